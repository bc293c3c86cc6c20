//! The languages conversations are generated in: share of conversations, a short list of
//! real common words in the language's own script, how the script punctuates, and which
//! accept-language values and countries its users come with.

/// How a script separates words and ends sentences.
pub struct Writing {
    /// Words are separated by spaces (false for Chinese, Japanese, Thai).
    pub spaced: bool,
    /// Sentences start with an upper-case letter.
    pub capitalize: bool,
    /// A token is a character rather than a word (Chinese, Japanese).
    pub tokens_are_chars: bool,
    pub full_stop: &'static str,
    pub question_mark: &'static str,
    pub comma: &'static str,
    /// Between sentences of a paragraph.
    pub sentence_gap: &'static str,
    /// Between the words of the uniqueness block that opens every reply; never part of a word.
    pub block_separator: &'static str,
}

pub struct Language {
    /// Title-case English name, as the truth files record it.
    pub name: &'static str,
    /// Share of conversations, in percent.
    pub weight: f64,
    pub writing: Writing,
    pub words: &'static [&'static str],
    pub accept_languages: &'static [&'static str],
    /// Where the language's users connect from: (country code, weight).
    pub countries: &'static [(&'static str, f64)],
}

const LATIN: Writing = Writing {
    spaced: true,
    capitalize: true,
    tokens_are_chars: false,
    full_stop: ".",
    question_mark: "?",
    comma: ",",
    sentence_gap: " ",
    block_separator: " ",
};

const UNCASED_SPACED: Writing = Writing {
    capitalize: false,
    ..LATIN
};

pub const LANGUAGES: &[Language] = &[
    Language {
        name: "English",
        weight: 53.0,
        writing: LATIN,
        words: &[
            "the", "of", "and", "to", "in", "is", "you", "that", "it", "was", "for", "on", "are", "as",
            "with", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but",
            "not", "what", "all", "were", "we", "when", "your", "can", "said", "there", "use", "each",
            "which", "she", "do", "how", "their", "if", "will", "up", "other", "about", "out", "many",
            "then", "them", "these", "so", "some", "would", "make", "like", "into", "time", "has",
            "look", "two", "more", "write", "see", "number", "way", "could", "people", "than", "first",
            "water", "been", "find", "long", "day", "get", "come", "made", "story", "help", "project",
            "code", "data", "model", "question", "answer", "essay", "game", "school", "market",
        ],
        accept_languages: &[
            "en-US,en;q=0.9",
            "en-GB,en-US;q=0.9,en;q=0.8",
            "en-US,en;q=0.5",
            "en-US",
            "en-IN,en-GB;q=0.9,en-US;q=0.8,en;q=0.7",
        ],
        countries: &[
            ("US", 50.0), ("GB", 9.0), ("IN", 8.0), ("CA", 6.0), ("AU", 4.0), ("HK", 3.0), ("PH", 3.0),
            ("DE", 3.0), ("SG", 2.0), ("PK", 2.0), ("NG", 2.0), ("NL", 2.0), ("JP", 2.0), ("BR", 1.0),
            ("FR", 1.0), ("MY", 1.0), ("CN", 1.0),
        ],
    },
    Language {
        name: "Chinese",
        weight: 13.0,
        writing: Writing {
            spaced: false,
            capitalize: false,
            tokens_are_chars: true,
            full_stop: "。",
            question_mark: "？",
            comma: "，",
            sentence_gap: "",
            block_separator: "、",
        },
        words: &[
            "我们", "你", "他", "她", "的", "是", "在", "有", "和", "这个", "那个", "什么", "怎么", "为什么",
            "可以", "需要", "问题", "时间", "工作", "学习", "中国", "文章", "内容", "方法", "公司", "市场",
            "发展", "技术", "数据", "系统", "用户", "今天", "明天", "现在", "已经", "非常", "比较", "应该",
            "如果", "但是", "因为", "所以", "然后", "还是", "一个", "两个", "帮助", "写", "看", "说", "想",
            "做", "请", "给", "关于", "生活", "世界", "朋友", "老师", "学生", "论文", "分析", "设计",
            "代码", "程序", "故事", "经济", "社会", "文化", "研究",
        ],
        accept_languages: &[
            "zh-CN,zh;q=0.9",
            "zh-CN,zh;q=0.9,en;q=0.8",
            "zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7",
            "zh-HK,zh;q=0.9",
            "zh-CN,zh;q=0.9,en;q=0.8,en-GB;q=0.7,en-US;q=0.6",
        ],
        countries: &[
            ("CN", 55.0), ("HK", 20.0), ("TW", 8.0), ("SG", 5.0), ("US", 7.0), ("JP", 3.0), ("MY", 2.0),
        ],
    },
    Language {
        name: "Russian",
        weight: 12.0,
        writing: LATIN,
        words: &[
            "и", "в", "не", "на", "я", "что", "он", "с", "как", "это", "по", "но", "они", "мы", "все",
            "она", "так", "его", "для", "вы", "от", "же", "то", "за", "бы", "из", "ты", "о", "мне",
            "уже", "или", "нет", "когда", "если", "только", "есть", "было", "можно", "нужно", "очень",
            "потом", "сейчас", "время", "человек", "жизнь", "работа", "день", "вопрос", "ответ", "текст",
            "пример", "задача", "код", "статья", "помощь", "напиши", "сделай", "объясни", "почему",
            "который", "другой", "новый", "большой", "хорошо",
        ],
        accept_languages: &[
            "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7",
            "ru,en;q=0.9",
            "ru-RU,ru;q=0.9",
        ],
        countries: &[
            ("RU", 70.0), ("UA", 6.0), ("KZ", 7.0), ("BY", 6.0), ("DE", 3.0), ("US", 3.0), ("NL", 2.0),
            ("IL", 1.0), ("TR", 2.0),
        ],
    },
    Language {
        name: "French",
        weight: 3.0,
        writing: LATIN,
        words: &[
            "le", "la", "les", "de", "des", "un", "une", "et", "est", "en", "que", "qui", "dans", "pour",
            "pas", "sur", "avec", "ce", "il", "elle", "nous", "vous", "ils", "mais", "ou", "plus", "par",
            "comme", "tout", "faire", "être", "avoir", "bien", "très", "aussi", "temps", "jour", "monde",
            "question", "réponse", "texte", "exemple", "travail", "aide", "écrire", "expliquer",
            "pourquoi", "comment", "quand", "après", "avant", "toujours", "jamais", "beaucoup", "peu",
            "merci", "projet", "histoire", "français", "entreprise", "données", "problème", "nouveau",
            "grand",
        ],
        accept_languages: &["fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr-CA,fr;q=0.9,en;q=0.8"],
        countries: &[("FR", 75.0), ("CA", 10.0), ("BE", 8.0), ("CH", 5.0), ("US", 2.0)],
    },
    Language {
        name: "Spanish",
        weight: 3.0,
        writing: LATIN,
        words: &[
            "el", "la", "los", "las", "de", "del", "un", "una", "y", "es", "en", "que", "por", "para",
            "con", "no", "se", "lo", "como", "más", "pero", "sus", "le", "ya", "o", "este", "sí",
            "porque", "esta", "entre", "cuando", "muy", "sin", "sobre", "también", "me", "hasta", "hay",
            "donde", "quien", "desde", "todo", "nos", "durante", "todos", "uno", "ni", "contra", "otros",
            "ese", "eso", "ellos", "tiempo", "trabajo", "ayuda", "escribe", "explica", "texto", "ejemplo",
            "pregunta", "respuesta", "historia", "proyecto", "empresa", "problema", "gracias", "mañana",
            "año", "niño",
        ],
        accept_languages: &["es-ES,es;q=0.9", "es-MX,es;q=0.9,en;q=0.8", "es-419,es;q=0.9"],
        countries: &[("ES", 30.0), ("MX", 30.0), ("AR", 12.0), ("CO", 12.0), ("US", 8.0)],
    },
    Language {
        name: "Portuguese",
        weight: 2.4,
        writing: LATIN,
        words: &[
            "o", "a", "os", "as", "de", "do", "da", "dos", "das", "um", "uma", "e", "é", "em", "que",
            "por", "para", "com", "não", "se", "no", "na", "como", "mais", "mas", "seu", "sua", "ou",
            "ser", "quando", "muito", "há", "nos", "já", "está", "eu", "também", "só", "pelo", "pela",
            "até", "isso", "ela", "entre", "depois", "sem", "mesmo", "ter", "quem", "você", "essa",
            "meu", "minha", "tempo", "trabalho", "ajuda", "escreva", "explique", "texto", "exemplo",
            "pergunta", "resposta", "história", "projeto", "empresa", "problema", "obrigado", "amanhã",
            "coração", "ação",
        ],
        accept_languages: &["pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", "pt-PT,pt;q=0.9"],
        countries: &[("BR", 85.0), ("PT", 15.0)],
    },
    Language {
        name: "German",
        weight: 2.2,
        writing: LATIN,
        words: &[
            "der", "die", "das", "und", "ist", "in", "den", "von", "zu", "mit", "sich", "des", "auf",
            "für", "nicht", "eine", "als", "auch", "es", "an", "er", "hat", "aus", "bei", "sie", "nach",
            "wird", "wie", "noch", "einen", "oder", "aber", "über", "wir", "ich", "du", "sehr", "schon",
            "wenn", "nur", "kann", "heute", "morgen", "Zeit", "Arbeit", "Hilfe", "schreibe", "erkläre",
            "Text", "Beispiel", "Frage", "Antwort", "Geschichte", "Projekt", "Unternehmen", "Problem",
            "danke", "schön", "Größe", "müssen", "warum",
        ],
        accept_languages: &["de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de,en-US;q=0.7,en;q=0.3"],
        countries: &[("DE", 80.0), ("AT", 10.0), ("CH", 10.0)],
    },
    Language {
        name: "Arabic",
        weight: 1.4,
        writing: Writing {
            question_mark: "؟",
            comma: "،",
            ..UNCASED_SPACED
        },
        words: &[
            "في", "من", "على", "إلى", "عن", "مع", "هذا", "هذه", "ذلك", "التي", "الذي", "كان", "كانت",
            "أن", "إن", "لا", "ما", "هل", "كيف", "لماذا", "متى", "أين", "نعم", "شكرا", "يوم", "وقت",
            "عمل", "كتاب", "سؤال", "جواب", "مثال", "نص", "مشروع", "شركة", "مشكلة", "اكتب", "اشرح",
            "ساعد", "العالم", "الناس", "اللغة", "العربية", "جديد", "كبير", "صغير", "جميل", "كثير",
            "قليل", "بعد", "قبل", "عند", "كل", "بعض", "أيضا", "فقط", "جدا", "الآن", "هنا", "هناك",
            "لكن",
        ],
        accept_languages: &["ar,en-US;q=0.9,en;q=0.8", "ar-SA,ar;q=0.9"],
        countries: &[("SA", 30.0), ("EG", 30.0), ("AE", 20.0), ("US", 5.0), ("DE", 5.0)],
    },
    Language {
        name: "Italian",
        weight: 1.1,
        writing: LATIN,
        words: &[
            "il", "lo", "la", "i", "gli", "le", "di", "del", "della", "un", "una", "e", "è", "in", "che",
            "per", "con", "non", "si", "come", "più", "ma", "anche", "questo", "quello", "io", "tu",
            "noi", "voi", "loro", "cosa", "perché", "quando", "dove", "sì", "grazie", "ciao", "giorno",
            "tempo", "lavoro", "libro", "domanda", "risposta", "esempio", "testo", "progetto", "azienda",
            "problema", "scrivi", "spiega", "aiuto", "mondo", "persone", "lingua", "italiano", "nuovo",
            "grande", "piccolo", "bello", "molto", "poco", "dopo", "prima", "tutto", "solo", "adesso",
            "qui", "però",
        ],
        accept_languages: &["it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("IT", 90.0), ("CH", 10.0)],
    },
    Language {
        name: "Turkish",
        weight: 1.0,
        writing: LATIN,
        words: &[
            "ve", "bir", "bu", "da", "de", "için", "ile", "çok", "ne", "mi", "o", "ben", "sen", "biz",
            "siz", "onlar", "var", "yok", "daha", "gibi", "kadar", "sonra", "önce", "şimdi", "burada",
            "orada", "ama", "çünkü", "neden", "nasıl", "nerede", "evet", "hayır", "teşekkürler",
            "merhaba", "gün", "zaman", "iş", "kitap", "soru", "cevap", "örnek", "metin", "proje",
            "şirket", "sorun", "yaz", "açıkla", "yardım", "dünya", "insanlar", "dil", "türkçe", "yeni",
            "büyük", "küçük", "güzel", "az", "hepsi", "sadece", "değil", "olarak",
        ],
        accept_languages: &["tr-TR,tr;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("TR", 95.0), ("DE", 5.0)],
    },
    Language {
        name: "Japanese",
        weight: 1.0,
        writing: Writing {
            spaced: false,
            capitalize: false,
            tokens_are_chars: true,
            full_stop: "。",
            question_mark: "？",
            comma: "、",
            sentence_gap: "",
            block_separator: "・",
        },
        words: &[
            "です", "ます", "これ", "それ", "あれ", "私", "あなた", "日本", "今日", "明日", "時間", "仕事",
            "勉強", "学校", "先生", "友達", "問題", "説明", "方法", "会社", "情報", "文章", "内容", "作成",
            "確認", "お願い", "ください", "して", "する", "ある", "いる", "なる", "できる", "について",
            "ための", "という", "よう", "こと", "もの", "ところ", "大切", "簡単", "便利", "新しい", "多い",
            "少し", "とても", "もっと", "一緒", "世界", "物語", "分析", "設計", "技術", "社会", "経済",
            "文化", "研究", "準備",
        ],
        accept_languages: &["ja,en-US;q=0.9,en;q=0.8", "ja-JP"],
        countries: &[("JP", 95.0), ("US", 5.0)],
    },
    Language {
        name: "Korean",
        weight: 0.8,
        writing: UNCASED_SPACED,
        words: &[
            "그리고", "그", "이", "저", "것", "수", "있다", "없다", "하다", "되다", "나", "너", "우리",
            "당신", "그들", "무엇", "왜", "어떻게", "언제", "어디", "네", "아니요", "감사합니다",
            "안녕하세요", "날", "시간", "일", "책", "질문", "대답", "예시", "글", "프로젝트", "회사", "문제",
            "써", "설명해", "도움", "세계", "사람들", "언어", "한국어", "새로운", "큰", "작은", "예쁜", "매우",
            "조금", "후에", "전에", "모두", "만", "지금", "여기", "거기", "하지만", "학교", "친구", "가족",
            "음식", "사랑",
        ],
        accept_languages: &["ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("KR", 95.0), ("US", 5.0)],
    },
    Language {
        name: "Vietnamese",
        weight: 0.8,
        writing: LATIN,
        words: &[
            "và", "của", "là", "có", "không", "được", "trong", "cho", "với", "một", "những", "các",
            "người", "này", "đã", "để", "khi", "từ", "đến", "tôi", "bạn", "chúng", "họ", "gì", "tại",
            "sao", "như", "thế", "nào", "đâu", "vâng", "cảm", "ơn", "xin", "chào", "ngày", "thời",
            "gian", "việc", "sách", "câu", "hỏi", "trả", "lời", "ví", "dụ", "văn", "bản", "dự", "án",
            "công", "ty", "vấn", "đề", "viết", "giải", "thích", "giúp", "giới", "ngôn", "ngữ", "tiếng",
            "mới", "lớn", "nhỏ", "đẹp", "rất", "ít", "sau", "trước", "tất", "cả", "chỉ", "bây", "giờ",
            "đây", "đó", "nhưng",
        ],
        accept_languages: &["vi-VN,vi;q=0.9,fr-FR;q=0.8,fr;q=0.7,en-US;q=0.6,en;q=0.5", "vi,en;q=0.9"],
        countries: &[("VN", 95.0), ("US", 5.0)],
    },
    Language {
        name: "Polish",
        weight: 0.7,
        writing: LATIN,
        words: &[
            "i", "w", "nie", "na", "się", "z", "do", "to", "że", "jest", "o", "jak", "ale", "po", "co",
            "tak", "za", "od", "ja", "ty", "my", "wy", "oni", "dla", "czy", "już", "tylko", "może",
            "bardzo", "jeszcze", "teraz", "tutaj", "tam", "dlaczego", "kiedy", "gdzie", "dziękuję",
            "cześć", "dzień", "czas", "praca", "książka", "pytanie", "odpowiedź", "przykład", "tekst",
            "projekt", "firma", "problem", "napisz", "wyjaśnij", "pomoc", "świat", "ludzie", "język",
            "polski", "nowy", "duży", "mały", "piękny", "mało", "potem", "przed", "wszystko", "żeby",
            "będzie", "można", "który",
        ],
        accept_languages: &["pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("PL", 92.0), ("DE", 4.0), ("GB", 4.0)],
    },
    Language {
        name: "Ukrainian",
        weight: 0.9,
        writing: LATIN,
        words: &[
            "і", "в", "не", "на", "я", "що", "він", "з", "як", "це", "по", "але", "вони", "ми", "всі",
            "вона", "так", "його", "для", "ви", "від", "же", "те", "за", "би", "із", "ти", "про", "мені",
            "вже", "або", "ні", "коли", "якщо", "тільки", "є", "було", "можна", "потрібно", "дуже",
            "потім", "зараз", "час", "людина", "життя", "робота", "день", "питання", "відповідь",
            "текст", "приклад", "завдання", "код", "стаття", "допомога", "напиши", "зроби", "поясни",
            "чому", "який", "інший", "новий", "великий", "добре", "їхній", "ґанок",
        ],
        accept_languages: &["uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7", "uk,ru;q=0.9,en;q=0.8"],
        countries: &[("UA", 85.0), ("PL", 7.0), ("DE", 8.0)],
    },
    Language {
        name: "Persian",
        weight: 0.8,
        writing: Writing {
            question_mark: "؟",
            comma: "،",
            ..UNCASED_SPACED
        },
        words: &[
            "و", "در", "به", "از", "که", "این", "را", "با", "است", "برای", "آن", "یک", "خود", "تا",
            "کرد", "بر", "هم", "نیز", "گفت", "ما", "شما", "او", "من", "چه", "چرا", "کجا", "چگونه",
            "بله", "نه", "ممنون", "سلام", "روز", "زمان", "کار", "کتاب", "سوال", "پاسخ", "مثال", "متن",
            "پروژه", "شرکت", "مشکل", "بنویس", "توضیح", "کمک", "جهان", "مردم", "زبان", "فارسی", "جدید",
            "بزرگ", "کوچک", "زیبا", "خیلی", "کم", "بعد", "قبل", "همه", "فقط", "حالا", "اینجا", "آنجا",
            "اما", "ایران", "پدر", "مادر", "ژاله",
        ],
        accept_languages: &["fa-IR,fa;q=0.9,en-US;q=0.8,en;q=0.7", "fa,en;q=0.9"],
        countries: &[("IR", 90.0), ("DE", 5.0), ("AE", 5.0)],
    },
    Language {
        name: "Indonesian",
        weight: 0.8,
        writing: LATIN,
        words: &[
            "dan", "yang", "di", "ke", "dari", "ini", "itu", "dengan", "untuk", "tidak", "ada", "adalah",
            "saya", "kamu", "kami", "kita", "mereka", "apa", "mengapa", "bagaimana", "kapan", "mana",
            "ya", "terima", "kasih", "halo", "hari", "waktu", "kerja", "buku", "pertanyaan", "jawaban",
            "contoh", "teks", "proyek", "perusahaan", "masalah", "tulis", "jelaskan", "bantuan", "dunia",
            "orang", "bahasa", "baru", "besar", "kecil", "cantik", "sangat", "sedikit", "setelah",
            "sebelum", "semua", "hanya", "sekarang", "sini", "sana", "tetapi", "juga", "akan", "bisa",
            "sudah", "belum",
        ],
        accept_languages: &["id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("ID", 95.0), ("SG", 5.0)],
    },
    Language {
        name: "Hindi",
        weight: 0.5,
        writing: Writing {
            full_stop: "।",
            ..UNCASED_SPACED
        },
        words: &[
            "और", "का", "की", "के", "है", "में", "से", "को", "पर", "यह", "वह", "एक", "हैं", "था", "थी",
            "थे", "नहीं", "भी", "तो", "कि", "जो", "कर", "हो", "गया", "लिए", "साथ", "मैं", "आप", "हम",
            "तुम", "क्या", "क्यों", "कैसे", "कब", "कहाँ", "हाँ", "धन्यवाद", "नमस्ते", "दिन", "समय", "काम",
            "किताब", "सवाल", "जवाब", "उदाहरण", "लेख", "परियोजना", "कंपनी", "समस्या", "लिखो", "समझाओ",
            "मदद", "दुनिया", "लोग", "भाषा", "हिंदी", "नया", "बड़ा", "छोटा", "सुंदर", "बहुत", "कम", "बाद",
            "पहले", "सब", "कुछ", "सिर्फ", "अब", "यहाँ", "वहाँ", "लेकिन",
        ],
        accept_languages: &["hi-IN,hi;q=0.9,en-US;q=0.8,en;q=0.7", "en-IN,hi;q=0.9"],
        countries: &[("IN", 95.0), ("US", 5.0)],
    },
    Language {
        name: "Thai",
        weight: 0.4,
        writing: Writing {
            spaced: false,
            capitalize: false,
            tokens_are_chars: false,
            full_stop: "",
            question_mark: "?",
            comma: "",
            sentence_gap: " ",
            block_separator: " ",
        },
        words: &[
            "และ", "ที่", "เป็น", "ของ", "ใน", "มี", "ได้", "ไม่", "จะ", "ให้", "กับ", "คน", "นี้", "ว่า",
            "การ", "ความ", "เรา", "คุณ", "ผม", "ฉัน", "เขา", "ไป", "มา", "ทำ", "ดี", "มาก", "วัน", "เวลา",
            "งาน", "เรียน", "โรงเรียน", "ภาษา", "ประเทศ", "ไทย", "อาหาร", "น้ำ", "บ้าน", "รถ", "เงิน",
            "ใหม่", "ช่วย", "เขียน", "อ่าน", "คิด", "รู้", "ต้องการ", "สามารถ", "ข้อมูล", "ระบบ", "บริษัท",
            "ปัญหา", "คำถาม", "ตอบ", "เรื่อง", "ทำไม", "อย่างไร", "อะไร", "ที่ไหน", "ขอบคุณ", "ครับ", "ค่ะ",
        ],
        accept_languages: &["th-TH,th;q=0.9,en;q=0.8"],
        countries: &[("TH", 100.0)],
    },
    Language {
        name: "Greek",
        weight: 0.3,
        writing: Writing {
            question_mark: ";",
            ..LATIN
        },
        words: &[
            "και", "το", "η", "ο", "του", "της", "σε", "με", "για", "από", "που", "είναι", "ένα", "μια",
            "τα", "οι", "δεν", "θα", "να", "στο", "στη", "αυτό", "αυτή", "εγώ", "εσύ", "εμείς", "εσείς",
            "τι", "γιατί", "πώς", "πότε", "πού", "ναι", "όχι", "ευχαριστώ", "γεια", "μέρα", "χρόνος",
            "δουλειά", "βιβλίο", "ερώτηση", "απάντηση", "παράδειγμα", "κείμενο", "έργο", "εταιρεία",
            "πρόβλημα", "γράψε", "εξήγησε", "βοήθεια", "κόσμος", "άνθρωποι", "γλώσσα", "ελληνικά", "νέο",
            "μεγάλο", "μικρό", "όμορφο", "πολύ", "λίγο", "μετά", "πριν", "όλα", "μόνο", "τώρα", "εδώ",
            "εκεί", "αλλά",
        ],
        accept_languages: &["el-GR,el;q=0.9,en;q=0.8"],
        countries: &[("GR", 100.0)],
    },
    Language {
        name: "Hebrew",
        weight: 0.3,
        writing: UNCASED_SPACED,
        words: &[
            "של", "את", "על", "לא", "הוא", "היא", "זה", "זאת", "עם", "כל", "גם", "אני", "אתה", "אנחנו",
            "הם", "מה", "למה", "איך", "מתי", "איפה", "כן", "תודה", "שלום", "יום", "זמן", "עבודה", "ספר",
            "שאלה", "תשובה", "דוגמה", "טקסט", "פרויקט", "חברה", "בעיה", "כתוב", "הסבר", "עזרה", "עולם",
            "אנשים", "שפה", "עברית", "חדש", "גדול", "קטן", "יפה", "מאוד", "קצת", "אחרי", "לפני", "רק",
            "עכשיו", "כאן", "שם", "אבל", "ישראל", "בית", "ילד", "אוהב", "רוצה", "צריך", "יכול",
        ],
        accept_languages: &["he-IL,he;q=0.9,en-US;q=0.8,en;q=0.7"],
        countries: &[("IL", 100.0)],
    },
    Language {
        name: "Dutch",
        weight: 0.5,
        writing: LATIN,
        words: &[
            "de", "het", "een", "en", "van", "ik", "te", "dat", "die", "in", "is", "niet", "op", "je",
            "zijn", "met", "voor", "maar", "wat", "er", "hij", "ze", "dit", "als", "aan", "ook", "bij",
            "naar", "uit", "om", "wij", "jullie", "waarom", "hoe", "wanneer", "waar", "ja", "nee", "dank",
            "hallo", "dag", "tijd", "werk", "boek", "vraag", "antwoord", "voorbeeld", "tekst", "project",
            "bedrijf", "probleem", "schrijf", "leg", "hulp", "wereld", "mensen", "taal", "nederlands",
            "nieuw", "groot", "klein", "mooi", "heel", "weinig", "daarna", "eerst", "alles", "alleen",
            "nu", "hier", "daar",
        ],
        accept_languages: &["nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", "nl-BE,nl;q=0.9"],
        countries: &[("NL", 80.0), ("BE", 20.0)],
    },
];

pub fn language_index(name: &str) -> Option<usize> {
    LANGUAGES.iter().position(|language| language.name == name)
}

/// Upper-cases the first character (sentence start).
pub fn capitalized(word: &str) -> String {
    let mut characters = word.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn word_lists_are_usable_for_the_uniqueness_block() {
        let total_weight: f64 = LANGUAGES.iter().map(|language| language.weight).sum();
        assert!((total_weight - 100.0).abs() < 0.5, "weights sum to {total_weight}");
        for language in LANGUAGES {
            let words = language.words;
            assert!(
                (40..=100).contains(&words.len()),
                "{} has {} words",
                language.name,
                words.len()
            );
            let distinct: HashSet<&str> = words.iter().copied().collect();
            assert_eq!(distinct.len(), words.len(), "{} repeats a word", language.name);
            let distinct_capitalized: HashSet<String> = words.iter().map(|word| capitalized(word)).collect();
            assert_eq!(distinct_capitalized.len(), words.len(), "{} capitalisation collides", language.name);
            let writing = &language.writing;
            for word in words {
                assert!(!word.is_empty() && !word.chars().any(char::is_whitespace), "{word:?}");
                assert!(!writing.block_separator.trim().is_empty() || writing.spaced || !writing.tokens_are_chars);
                if !writing.block_separator.trim().is_empty() {
                    assert!(!word.contains(writing.block_separator), "{word:?}");
                }
                if !writing.full_stop.is_empty() {
                    assert!(!word.contains(writing.full_stop), "{word:?}");
                }
            }
            for (code, _) in language.countries {
                assert!(
                    super::super::network::COUNTRIES.iter().any(|country| country.code == *code),
                    "{code}"
                );
            }
            assert!(!language.accept_languages.is_empty());
        }
    }
}
