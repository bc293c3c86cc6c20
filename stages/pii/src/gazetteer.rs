//! Compact word lists for the rule approximations of PERSON, LOCATION and NRP (Presidio finds these with NER
//! models). English spellings, exact case as written in running text; entries are separated by `|`.

/// Countries and common short forms.
pub(crate) const COUNTRIES: &str = "Afghanistan|Albania|Algeria|Andorra|Angola|Antigua and Barbuda|Argentina|Armenia|\
Australia|Austria|Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|\
Bosnia and Herzegovina|Bosnia|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|Cambodia|Cameroon|Canada|\
Cape Verde|Central African Republic|Chad|Chile|China|Colombia|Comoros|Congo|Costa Rica|Croatia|Cuba|Cyprus|\
Czech Republic|Czechia|Denmark|Djibouti|Dominica|Dominican Republic|East Timor|Ecuador|Egypt|El Salvador|\
Equatorial Guinea|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|\
Grenada|Guatemala|Guinea|Guinea-Bissau|Guyana|Haiti|Honduras|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|\
Israel|Italy|Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kiribati|Kosovo|Kuwait|Kyrgyzstan|Laos|Latvia|\
Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|\
Marshall Islands|Mauritania|Mauritius|Mexico|Micronesia|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|\
Myanmar|Namibia|Nauru|Nepal|Netherlands|New Zealand|Nicaragua|Niger|Nigeria|North Korea|North Macedonia|Norway|\
Oman|Pakistan|Palau|Palestine|Panama|Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Qatar|Romania|\
Russia|Russian Federation|Rwanda|Saint Lucia|Samoa|San Marino|Saudi Arabia|Senegal|Serbia|Seychelles|Sierra Leone|\
Singapore|Slovakia|Slovenia|Solomon Islands|Somalia|South Africa|South Korea|South Sudan|Spain|Sri Lanka|Sudan|\
Suriname|Sweden|Switzerland|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Togo|Tonga|Trinidad and Tobago|Tunisia|\
Turkey|Türkiye|Turkmenistan|Tuvalu|Uganda|Ukraine|United Arab Emirates|United Kingdom|United States|\
United States of America|Uruguay|Uzbekistan|Vanuatu|Vatican City|Venezuela|Vietnam|Viet Nam|Yemen|Zambia|Zimbabwe|\
USA|UK|UAE|Great Britain|Britain|England|Scotland|Wales|Northern Ireland|Hong Kong|Macau|Puerto Rico|Greenland|\
Korea|Holland|Tibet|Siberia|Europe|Asia|Africa|North America|South America|Latin America|Antarctica|Oceania|\
Middle East|Scandinavia|Balkans|Caribbean";

/// US states.
pub(crate) const US_STATES: &str = "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|\
Florida|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|\
Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|\
North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|\
Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming";

/// Capitals and large cities (plus a few regions often named in chat).
pub(crate) const CITIES: &str = "New York City|Los Angeles|Chicago|Houston|Phoenix|Philadelphia|San Antonio|\
San Diego|Dallas|San Jose|Austin|Jacksonville|San Francisco|Seattle|Denver|Boston|Detroit|Nashville|Portland|\
Las Vegas|Memphis|Baltimore|Milwaukee|Atlanta|Miami|Minneapolis|Cleveland|New Orleans|Pittsburgh|Honolulu|\
Orlando|Sacramento|Salt Lake City|Brooklyn|Manhattan|Silicon Valley|Toronto|Montreal|Vancouver|Ottawa|Calgary|\
Quebec|Mexico City|Guadalajara|Havana|Bogotá|Bogota|Lima|Santiago|Buenos Aires|São Paulo|Sao Paulo|\
Rio de Janeiro|Brasília|Brasilia|Caracas|Quito|Montevideo|London|Manchester|Birmingham|Liverpool|Edinburgh|Glasgow|\
Dublin|Belfast|Cardiff|Oxford|Cambridge|Paris|Marseille|Lyon|Toulouse|Nice|Bordeaux|Berlin|Hamburg|Munich|\
München|Cologne|Köln|Frankfurt|Stuttgart|Düsseldorf|Dresden|Leipzig|Vienna|Wien|Zurich|Zürich|Geneva|Bern|\
Brussels|Amsterdam|Rotterdam|The Hague|Luxembourg City|Madrid|Barcelona|Valencia|Seville|Sevilla|Bilbao|Lisbon|\
Lisboa|Porto|Rome|Roma|Milan|Milano|Naples|Napoli|Turin|Torino|Florence|Firenze|Venice|Venezia|Bologna|Palermo|\
Genoa|Genova|Athens|Thessaloniki|Istanbul|Ankara|Izmir|Copenhagen|Stockholm|Oslo|Helsinki|Reykjavik|Warsaw|Kraków|\
Krakow|Prague|Praha|Budapest|Bratislava|Ljubljana|Zagreb|Belgrade|Sarajevo|Sofia|Bucharest|Chisinau|Kyiv|Kiev|\
Kharkiv|Odesa|Odessa|Lviv|Minsk|Vilnius|Riga|Tallinn|Moscow|Saint Petersburg|St. Petersburg|Novosibirsk|\
Yekaterinburg|Kazan|Vladivostok|Tbilisi|Yerevan|Baku|Astana|Almaty|Tashkent|Bishkek|Dushanbe|Ashgabat|Kabul|\
Tehran|Baghdad|Damascus|Beirut|Amman|Jerusalem|Tel Aviv|Riyadh|Jeddah|Mecca|Medina|Doha|Dubai|Abu Dhabi|\
Muscat|Kuwait City|Sanaa|Cairo|Alexandria|Tripoli|Tunis|Algiers|Casablanca|Rabat|Marrakesh|Lagos|Abuja|Accra|\
Dakar|Nairobi|Addis Ababa|Kampala|Kigali|Dar es Salaam|Khartoum|Kinshasa|Luanda|Johannesburg|Cape Town|Pretoria|\
Durban|Harare|Lusaka|Maputo|Antananarivo|Karachi|Lahore|Islamabad|Delhi|New Delhi|Mumbai|Bombay|Bangalore|\
Bengaluru|Kolkata|Calcutta|Chennai|Madras|Hyderabad|Pune|Ahmedabad|Jaipur|Dhaka|Kathmandu|Colombo|Thimphu|Beijing|\
Shanghai|Guangzhou|Shenzhen|Chengdu|Chongqing|Tianjin|Wuhan|Hangzhou|Nanjing|Xi'an|Suzhou|Harbin|Taipei|\
Kaohsiung|Tokyo|Osaka|Kyoto|Yokohama|Nagoya|Sapporo|Fukuoka|Hiroshima|Seoul|Busan|Incheon|Pyongyang|\
Ulaanbaatar|Hanoi|Ho Chi Minh City|Saigon|Bangkok|Phuket|Vientiane|Phnom Penh|Yangon|Kuala Lumpur|Jakarta|Bali|\
Manila|Sydney|Melbourne|Brisbane|Perth|Adelaide|Canberra|Auckland|Wellington|Christchurch";

/// Nationalities and other national or ethnic adjectives.
pub(crate) const NATIONALITIES: &str = "Afghan|Albanian|Algerian|American|Andorran|Angolan|Argentine|Argentinian|\
Armenian|Australian|Austrian|Azerbaijani|Bahraini|Bangladeshi|Belarusian|Belgian|Bolivian|Bosnian|Brazilian|\
British|Bulgarian|Burmese|Cambodian|Cameroonian|Canadian|Chilean|Chinese|Colombian|Congolese|Croatian|Cuban|\
Cypriot|Czech|Danish|Dominican|Dutch|Ecuadorian|Egyptian|Emirati|English|Eritrean|Estonian|Ethiopian|Filipino|\
Finnish|French|Georgian|German|Ghanaian|Greek|Guatemalan|Haitian|Honduran|Hungarian|Icelandic|Indian|Indonesian|\
Iranian|Iraqi|Irish|Israeli|Italian|Ivorian|Jamaican|Japanese|Jordanian|Kazakh|Kenyan|Korean|Kuwaiti|Kyrgyz|\
Lao|Latvian|Lebanese|Liberian|Libyan|Lithuanian|Luxembourgish|Macedonian|Malagasy|Malaysian|Malian|Maltese|\
Mexican|Moldovan|Mongolian|Montenegrin|Moroccan|Mozambican|Namibian|Nepalese|Nepali|Nicaraguan|Nigerian|\
Nigerien|Norwegian|Omani|Pakistani|Palestinian|Panamanian|Paraguayan|Persian|Peruvian|Polish|Portuguese|Qatari|\
Romanian|Russian|Rwandan|Salvadoran|Saudi|Scottish|Senegalese|Serbian|Singaporean|Slovak|Slovenian|Somali|\
South African|Spanish|Sri Lankan|Sudanese|Swedish|Swiss|Syrian|Taiwanese|Tajik|Tanzanian|Thai|Tibetan|Tunisian|\
Turkish|Turkmen|Ugandan|Ukrainian|Uruguayan|Uzbek|Venezuelan|Vietnamese|Welsh|Yemeni|Zambian|Zimbabwean|Arab|\
Arabic|Asian|African|European|Latino|Latina|Hispanic|Caucasian|Scandinavian|Slavic|Kurdish|Basque|Catalan|\
Flemish|Walloon|Yoruba|Igbo|Hausa|Zulu|Xhosa|Maori|Aboriginal|Inuit|Roma|Uyghur|Han|Pashtun|Tamil|Punjabi|\
Bengali|Gujarati|Sikh|Chechen|Tatar|Cossack|Anglo-Saxon|Afro-American|African-American|Native American|\
Brit|Aussie|Kiwi|Yankee";

/// Religions and their adherents.
pub(crate) const RELIGIONS: &str = "Christian|Christianity|Catholic|Catholicism|Roman Catholic|Protestant|\
Protestantism|Orthodox|Evangelical|Baptist|Methodist|Lutheran|Anglican|Presbyterian|Pentecostal|Mormon|Quaker|\
Amish|Muslim|Moslem|Islam|Islamic|Sunni|Shia|Shiite|Sufi|Jewish|Jew|Judaism|Hindu|Hinduism|Buddhist|Buddhism|\
Sikhism|Jain|Jainism|Taoist|Taoism|Confucian|Shinto|Zoroastrian|Bahai|Baháʼí|Pagan|Wiccan|Atheist|Agnostic";

/// Political groups and movements.
pub(crate) const POLITICAL: &str = "Democrat|Democratic Party|Republican|Republican Party|GOP|Tory|Tories|\
Conservative Party|Labour Party|Liberal Democrats|Communist|Communist Party|Socialist|Marxist|Leninist|Maoist|\
Bolshevik|Nazi|Neo-Nazi|Fascist|Libertarian|Green Party|Social Democrats|Christian Democrats|Whig|Jacobin|\
Zionist|Taliban|Hamas|Hezbollah";

/// Common given names (US, UK and continental Europe). Names that are also everyday words are left out.
pub(crate) const FIRST_NAMES: &str = "James|John|Robert|Michael|William|David|Richard|Joseph|Thomas|Charles|\
Christopher|Daniel|Matthew|Anthony|Donald|Steven|Paul|Andrew|Joshua|Kenneth|Kevin|Brian|George|Timothy|Ronald|\
Edward|Jason|Jeffrey|Ryan|Jacob|Gary|Nicholas|Eric|Jonathan|Stephen|Larry|Justin|Scott|Brandon|Benjamin|Samuel|\
Gregory|Alexander|Frank|Patrick|Raymond|Jack|Dennis|Jerry|Tyler|Aaron|Jose|Adam|Nathan|Henry|Douglas|Zachary|\
Peter|Kyle|Ethan|Walter|Noah|Jeremy|Christian|Keith|Roger|Terry|Gerald|Harold|Sean|Austin|Carl|Arthur|Lawrence|\
Dylan|Jesse|Bryan|Joe|Jordan|Billy|Bruce|Albert|Willie|Gabriel|Logan|Alan|Juan|Wayne|Elijah|Randy|Roy|Vincent|\
Ralph|Eugene|Russell|Bobby|Mason|Philip|Louis|Liam|Oliver|Lucas|Aiden|Jayden|Caleb|Luke|Isaac|Owen|Connor|Evan|\
Hunter|Ian|Cameron|Adrian|Colin|Derek|Marcus|Travis|Shawn|Chad|Victor|Martin|Howard|Fred|Craig|Todd|Dustin|\
Jeffery|Shane|Curtis|Phillip|Barry|Leonard|Troy|Dale|Glenn|Mario|Luis|Carlos|Miguel|Antonio|Alejandro|Diego|\
Pedro|Pablo|Javier|Francisco|Manuel|Rafael|Fernando|Sergio|Jorge|Ricardo|Andrés|Mateo|Hugo|Matteo|Giuseppe|\
Giovanni|Luca|Marco|Francesco|Alessandro|Lorenzo|Andrea|Stefano|Pierre|Jean|Jacques|Michel|Philippe|Nicolas|\
François|Olivier|Antoine|Julien|Hans|Klaus|Jürgen|Stefan|Wolfgang|Lukas|Felix|Maximilian|Jan|Lars|Sven|Erik|\
Henrik|Anders|Nils|Piotr|Tomasz|Krzysztof|Pavel|Ivan|Dmitry|Sergey|Alexei|Mikhail|Vladimir|Andrei|Nikolai|Igor|\
Oleg|Yuri|Boris|Mohammed|Muhammad|Ahmed|Ali|Omar|Hassan|Hussein|Yusuf|Ibrahim|Mustafa|Raj|Rahul|Amit|Arjun|\
Vikram|Wei|Hiroshi|Takeshi|Kenji|Mary|Patricia|Jennifer|Linda|Elizabeth|Barbara|Susan|Jessica|Sarah|Karen|\
Nancy|Lisa|Betty|Margaret|Sandra|Ashley|Kimberly|Emily|Donna|Michelle|Dorothy|Carol|Amanda|Melissa|Deborah|\
Stephanie|Rebecca|Sharon|Laura|Cynthia|Kathleen|Amy|Shirley|Angela|Helen|Anna|Brenda|Pamela|Nicole|Emma|\
Samantha|Katherine|Christine|Debra|Rachel|Catherine|Carolyn|Janet|Ruth|Maria|Heather|Diane|Virginia|Julie|Joyce|\
Victoria|Olivia|Kelly|Christina|Lauren|Joan|Evelyn|Judith|Megan|Cheryl|Andrea|Hannah|Martha|Jacqueline|Frances|\
Gloria|Ann|Teresa|Kathryn|Sara|Janice|Jean|Alice|Madison|Doris|Abigail|Julia|Judy|Grace|Denise|Amber|Marilyn|\
Beverly|Danielle|Theresa|Sophia|Marie|Diana|Brittany|Natalie|Isabella|Charlotte|Rose|Alexis|Kayla|Chloe|Ava|\
Mia|Ella|Harper|Avery|Zoe|Lily|Lillian|Addison|Aubrey|Leah|Layla|Ellie|Nora|Riley|Scarlett|Hailey|Claire|Audrey|\
Tiffany|Colleen|Kendra|Shelby|Erin|Kristin|Allison|Vanessa|Monica|Erica|Tracy|Tara|Jenna|Caroline|Molly|Lucy|\
Alexandra|Sofia|Valentina|Camila|Lucia|Elena|Carmen|Isabel|Giulia|Chiara|Francesca|Alessia|Sophie|Camille|\
Léa|Manon|Chloé|Inès|Hanna|Lena|Leonie|Anja|Katarina|Ingrid|Astrid|Sigrid|Agnieszka|Katarzyna|Magdalena|\
Olga|Tatiana|Natalia|Svetlana|Irina|Ekaterina|Anastasia|Yulia|Fatima|Aisha|Layla|Priya|Anjali|Yuki|Mei|\
Patrice|Jessie|Marisa|Wendy|Jill|Stacy|Dawn|Kristen|Brooke|Paige|Morgan|Taylor|Courtney|Whitney|Alyssa|Kaitlyn|\
Haley|Sydney|Jasmine|Destiny|Savannah|Gabriella|Naomi|Ruby|Eva|Violet|Stella|Hazel|Aurora|Penelope|Eleanor|\
Josephine|Margot|Vivian|Irene|Esther|Miriam|Rita|Gina|Connie|Peggy|Sheila|Lori|Tammy|Sherry|Joanne|Brian|Ronald";

/// Capitalised words that end a name wherever they occur: pronouns, function words, greetings, organisation
/// and role words.
pub(crate) const NAME_BREAK_WORDS: &str = "I|I'm|I’m|I'd|I'll|I've|It's|That's|What's|Let's|Here's|There's|Don't|\
Can't|A|An|The|This|That|These|Those|It|Its|He|She|We|They|You|Your|Yours|My|Mine|Our|His|Her|Their|Me|Us|Him|Them|\
Who|What|Where|When|Why|How|Which|Is|Are|Was|Were|Be|Been|Am|Do|Does|Did|Have|Has|Had|Can|Could|Will|Would|Shall|\
Should|May|Might|Must|Not|No|Yes|So|Very|Just|Also|Here|There|And|Or|But|If|Then|Than|Of|In|On|At|To|For|From|By|\
With|As|About|Into|Over|Under|After|Before|Please|Thanks|Thank|Hello|Hi|Hey|Dear|Team|Inc|Ltd|LLC|Corp|Group|\
University|College|School|Hospital|Bank|Street|Road|Avenue|Department|Support|Service|Services|Company|Committee|\
Manager|Customer|Client|Members|Users|Assistant|Bot";

/// Capitalised words that cannot start a name (on top of [`NAME_BREAK_WORDS`]): roles, placeholders, weekdays
/// and months, products, and words that head chat messages. Later in a name they may be surnames (Young, King).
pub(crate) const NOT_NAME_WORDS: &str = "Sorry|Happy|Glad|Sure|Okay|OK|Ok|Well|Now|Today|Tomorrow|Yesterday|Good|\
Great|Best|Kind|Warm|Regards|Sincerely|Cheers|Love|All|Everyone|Everybody|Someone|Anyone|Sir|Madam|Mr|Mrs|Ms|Dr|\
Prof|Miss|Hiring|Recruiter|Admin|Administrator|User|Member|Friend|Friends|Colleague|Colleagues|Student|Students|\
Teacher|Parents|Reader|Readers|Editor|Valued|Name|Full|First|Last|Chapter|Section|Part|Step|Note|Example|Question|\
Answer|Task|Title|Subject|Summary|Introduction|Conclusion|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|\
January|February|March|April|June|July|August|September|October|November|December|Christmas|Easter|God|Lord|Jesus|\
Allah|ChatGPT|GPT|OpenAI|AI|Google|Microsoft|Apple|Amazon|Facebook|Twitter|Instagram|YouTube|Python|Java|\
JavaScript|Excel|Word|Windows|Linux|Android|English|Writing|Looking|Trying|Going|Working|Interested|Excited|\
Pleased|Available|Ready|Done|New|Old|Big|Little|Young|Mother|Father|Mom|Dad|Brother|Sister|Son|Daughter|Wife|\
Husband|Boss|Doctor|Professor|Officer|Captain|King|Queen|Prince|Princess|Lady|Lord|Saint|St|Mount|Lake|River|North|\
South|East|West|Central|Upper|Lower|Mister|Sensei";
