use super::*;

fn found(text: &str, entity: EntityType) -> Vec<String> {
    detect(text)
        .into_iter()
        .filter(|s| s.entity == entity)
        .map(|s| text.chars().skip(s.start).take(s.end - s.start).collect())
        .collect()
}

fn one(text: &str, entity: EntityType, value: &str) {
    assert_eq!(
        found(text, entity),
        vec![value.to_string()],
        "in {text:?}: {:?}",
        detect(text)
    );
}

fn none(text: &str, entity: EntityType) {
    assert!(
        found(text, entity).is_empty(),
        "unexpected {entity} in {text:?}: {:?}",
        detect(text)
    );
}

#[test]
fn names_round_trip() {
    assert_eq!(EntityType::ALL.len(), 27);
    for &t in EntityType::ALL {
        assert_eq!(t.as_str().parse::<EntityType>().unwrap(), t);
    }
    assert!("ADDRESS".parse::<EntityType>().is_err());
}

#[test]
fn detector_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Detector>();
}

#[test]
fn email() {
    one(
        "write to jane.doe+x@mail.example.co.uk today",
        E::EMAIL_ADDRESS,
        "jane.doe+x@mail.example.co.uk",
    );
    none("the @ sign and user@localhost", E::EMAIL_ADDRESS);
}

#[test]
fn credit_card() {
    one("my card 4532276644577020 expires", E::CREDIT_CARD, "4532276644577020");
    one("card: 4532-2766-4457-7020.", E::CREDIT_CARD, "4532-2766-4457-7020");
    one("amex 3782 822463 10005", E::CREDIT_CARD, "3782 822463 10005");
    none("my card 4532276644577021 expires", E::CREDIT_CARD);
    // Luhn-valid but no known issuer prefix
    none("ref 0000000000000000", E::CREDIT_CARD);
    // 12- and 13-digit Maestro, grouped 4-4-4 and 4-4-5, and Mir: cards, not phone numbers
    one("card 6759 9688 7195 please", E::CREDIT_CARD, "6759 9688 7195");
    one("pay with 501839325245 today", E::CREDIT_CARD, "501839325245");
    one("maestro 6304-0979-70487.", E::CREDIT_CARD, "6304-0979-70487");
    one("mir 2200 1234 5678 9019", E::CREDIT_CARD, "2200 1234 5678 9019");
    none("call 6759 9688 7195 please", E::PHONE_NUMBER);
    none("mir 2200 1234 5678 9010", E::CREDIT_CARD);
}

#[test]
fn iban() {
    one(
        "IBAN: GB82 WEST 1234 5698 7654 32 please",
        E::IBAN_CODE,
        "GB82 WEST 1234 5698 7654 32",
    );
    one("pay DE89370400440532013000 now", E::IBAN_CODE, "DE89370400440532013000");
    none("IBAN: GB82 WEST 1234 5698 7654 33 please", E::IBAN_CODE);
    none("pay DE89370400440532013001 now", E::IBAN_CODE);
}

#[test]
fn ip_address() {
    one("blocked at 58.74.121.78, retry", E::IP_ADDRESS, "58.74.121.78");
    one("server 192.168.0.1.", E::IP_ADDRESS, "192.168.0.1");
    one(
        "use 2001:db8::8a2e:370:7334 here",
        E::IP_ADDRESS,
        "2001:db8::8a2e:370:7334",
    );
    none("version 1.2.3.4.5 released", E::IP_ADDRESS);
    none("not 300.1.1.1", E::IP_ADDRESS);
    none("at 14:48:14 sharp", E::IP_ADDRESS);
}

#[test]
fn ssn_and_itin() {
    one("His social security number is 531-21-7351", E::US_SSN, "531-21-7351");
    one("SSN 531217351", E::US_SSN, "531217351");
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        none(&format!("ssn {bad}"), E::US_SSN);
    }
    // bare nine digits without context are not an SSN
    none("order 531217351 shipped", E::US_SSN);
    one("my ITIN is 912-70-1234", E::US_ITIN, "912-70-1234");
    none("my ITIN is 912-40-1234", E::US_ITIN);
}

#[test]
fn phone_number() {
    one(
        "Can someone call me on (07) 5331 0577? thanks",
        E::PHONE_NUMBER,
        "(07) 5331 0577",
    );
    one("London office +44 20 7946 0958.", E::PHONE_NUMBER, "+44 20 7946 0958");
    one("Desk: 986.291.2294x751\n", E::PHONE_NUMBER, "986.291.2294x751");
    one("tel 001-420-335-7509x38548", E::PHONE_NUMBER, "001-420-335-7509x38548");
    one("手机 +86 138 0013 8000", E::PHONE_NUMBER, "+86 138 0013 8000");
    none("population 12 345 678 in 2020", E::PHONE_NUMBER);
    none("version 10.0.19041.1234", E::PHONE_NUMBER);
    none("in 1965 and 1970", E::PHONE_NUMBER);
}

#[test]
fn url() {
    one("see https://example.com/a?b=1, ok", E::URL, "https://example.com/a?b=1");
    one("visit www.DialForum.co.uk/ now", E::URL, "www.DialForum.co.uk/");
    one("go to github.com for code", E::URL, "github.com");
    none("open main.py and config.json", E::URL);
}

#[test]
fn crypto() {
    one(
        "send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        E::CRYPTO,
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    );
    none("send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", E::CRYPTO);
    one(
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        E::CRYPTO,
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    );
    none("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp", E::CRYPTO);
    let taproot = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297";
    one(taproot, E::CRYPTO, taproot);
}

#[test]
fn uk_nhs() {
    one("NHS number 943 476 5919", E::UK_NHS, "943 476 5919");
    none("NHS number 943 476 5918", E::UK_NHS);
}

#[test]
fn au_tfn_and_medicare() {
    one("my TFN is 123 456 782", E::AU_TFN, "123 456 782");
    none("my TFN is 123 456 789", E::AU_TFN);
    one("Medicare card 2123 45670 1", E::AU_MEDICARE, "2123 45670 1");
    none("Medicare card 2123 45671 1", E::AU_MEDICARE);
}

#[test]
fn sg_nric_and_es_nif() {
    one("NRIC S1234567D", E::SG_NRIC_FIN, "S1234567D");
    none("NRIC S1234567A", E::SG_NRIC_FIN);
    one("DNI 12345678Z", E::ES_NIF, "12345678Z");
    none("DNI 12345678A", E::ES_NIF);
}

#[test]
fn date_time() {
    one("When: 1998-06-28 14:48:14\nWhere", E::DATE_TIME, "1998-06-28 14:48:14");
    one("born on 12/27/1986.", E::DATE_TIME, "12/27/1986");
    one("On 29 March 2017, it began", E::DATE_TIME, "29 March 2017");
    none("ratio 13/45/2020", E::DATE_TIME);
}

#[test]
fn code_point_offsets() {
    let text = "😀 日本語 メール: a@b.com と 58.74.121.78";
    let spans = detect(text);
    let chars: Vec<char> = text.chars().collect();
    let got: Vec<(EntityType, String)> = spans
        .iter()
        .map(|s| (s.entity, chars[s.start..s.end].iter().collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (E::EMAIL_ADDRESS, "a@b.com".into()),
            (E::IP_ADDRESS, "58.74.121.78".into())
        ]
    );
    assert_eq!(spans[0].start, 11);
}

#[test]
fn overlaps_resolved() {
    // the SSN also looks like a phone number; one span remains
    let spans = detect("call 531-21-7351");
    assert_eq!(spans.len(), 1, "{spans:?}");
    let spans = detect("When: 1998-06-28 14:48:14");
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].entity, E::DATE_TIME);
}

#[test]
fn context_raises_score() {
    let plain = detect("986.291.2294")[0].score;
    let ctx = detect("phone: 986.291.2294")[0].score;
    assert!(ctx > plain, "{plain} vs {ctx}");
}

#[test]
fn all_types_implemented() {
    assert_eq!(EntityType::IMPLEMENTED.len(), 27);
    assert!(EntityType::ALL.iter().all(|t| t.is_implemented()));
}

#[test]
fn medical_license_dea() {
    one("DEA number AB1234563 on file", E::MEDICAL_LICENSE, "AB1234563");
    one("prescriber: F91234563", E::MEDICAL_LICENSE, "F91234563");
    // wrong check digit, and a letter that is no registrant type
    none("DEA number AB1234564 on file", E::MEDICAL_LICENSE);
    none("DEA number QB1234563 on file", E::MEDICAL_LICENSE);
}

#[test]
fn us_bank_number() {
    one(
        "my bank account number is 12345678902",
        E::US_BANK_NUMBER,
        "12345678902",
    );
    none("order 12345678902 shipped", E::US_BANK_NUMBER);
    none("bank account 1111111111", E::US_BANK_NUMBER);
}

#[test]
fn us_driver_license() {
    one(
        "My driver's license number is 481195160",
        E::US_DRIVER_LICENSE,
        "481195160",
    );
    one("DL: D1234567", E::US_DRIVER_LICENSE, "D1234567");
    none("order 481195160 shipped", E::US_DRIVER_LICENSE);
}

#[test]
fn us_passport() {
    one("passport number 123456789", E::US_PASSPORT, "123456789");
    one("my passport: A12345678.", E::US_PASSPORT, "A12345678");
    none("ticket 123456789", E::US_PASSPORT);
}

#[test]
fn it_fiscal_code() {
    one("codice fiscale RSSMRA85T10A562S", E::IT_FISCAL_CODE, "RSSMRA85T10A562S");
    // the check letter alone is strong enough without a context word
    one("CF: MRTMTT91D08F205J.", E::IT_FISCAL_CODE, "MRTMTT91D08F205J");
    none("codice fiscale RSSMRA85T10A562T", E::IT_FISCAL_CODE);
    none("codice fiscale RSSMRA85Z10A562S", E::IT_FISCAL_CODE);
}

#[test]
fn it_vat_code() {
    one("partita IVA 01234567897", E::IT_VAT_CODE, "01234567897");
    one("VAT IT01234567897", E::IT_VAT_CODE, "IT01234567897");
    one("fattura IT 01234567897 ok", E::IT_VAT_CODE, "IT 01234567897");
    none("partita IVA 01234567898", E::IT_VAT_CODE);
    none("numero 01234567897", E::IT_VAT_CODE);
}

#[test]
fn it_driver_license() {
    one("patente di guida MI2345678X", E::IT_DRIVER_LICENSE, "MI2345678X");
    one("patente U1H67B57MZ", E::IT_DRIVER_LICENSE, "U1H67B57MZ");
    none("codice MI2345678X", E::IT_DRIVER_LICENSE);
}

#[test]
fn it_passport() {
    one("passaporto YA1234567", E::IT_PASSPORT, "YA1234567");
    none("codice YA1234567", E::IT_PASSPORT);
}

#[test]
fn it_identity_card() {
    one("carta d'identità CA00000AA", E::IT_IDENTITY_CARD, "CA00000AA");
    one("carta di identità AB 1234567", E::IT_IDENTITY_CARD, "AB 1234567");
    none("codice CA00000AA", E::IT_IDENTITY_CARD);
}

#[test]
fn person_after_cues() {
    one(
        "My name is Patricia Jeknić but everyone calls me",
        E::PERSON,
        "Patricia Jeknić",
    );
    one("Hello, I am Rachel Anderson and I work", E::PERSON, "Rachel Anderson");
    one("Hi, I'm Lauren O'Neil, a student.", E::PERSON, "Lauren O'Neil");
    one("Dear Mr. Fernandez,\nthanks", E::PERSON, "Fernandez");
    one("Dear Jean-Luc,\nsee below", E::PERSON, "Jean-Luc");
    one("see you.\nKind regards,\nRyan Anderson", E::PERSON, "Ryan Anderson");
    one("ok\nBest regards,\n\nJohn F. Kennedy\n", E::PERSON, "John F. Kennedy");
    none("Best regards,\n[Your Name]", E::PERSON);
    none("Best regards,\nThe Marketing Team", E::PERSON);
    none("Best regards,\nMarketing Team", E::PERSON);
    // a word that cannot start a name can still be a surname
    one("Kind regards,\nGrace King", E::PERSON, "Grace King");
    none("I am Very Happy today", E::PERSON);
    none("Hello World program", E::PERSON);
    none("my name is john smith", E::PERSON);
}

#[test]
fn person_given_name_and_surname() {
    one("You can tell she was a huge Megan Payne fan.", E::PERSON, "Megan Payne");
    one("Jordan Peterson wrote it", E::PERSON, "Jordan Peterson");
    one(
        "the verses from Melissa Kristoffersen's Cautionary Tales",
        E::PERSON,
        "Melissa Kristoffersen",
    );
    none("The Great Gatsby is a novel", E::PERSON);
    none("we drove from Austin Texas", E::PERSON);
    none("In April Fools jokes", E::PERSON);
}

#[test]
fn location_and_nrp() {
    one("We moved to New York last year", E::LOCATION, "New York");
    one("a man who grew up in Monroe.", E::LOCATION, "Monroe");
    one("I live in Ústí nad Labem", E::LOCATION, "Ústí");
    one("we moved here from Küsnacht", E::LOCATION, "Küsnacht");
    none("this is written in Python and English", E::LOCATION);
    // German capitalises nouns: "in Arbeit" is no place
    none("Das Projekt ist noch in Arbeit und braucht Hilfe", E::LOCATION);
    none("we moved to new york", E::LOCATION);
    let text = "Most Americans are Christian, and she is a Democrat";
    assert_eq!(found(text, E::NRP), vec!["Americans", "Christian", "Democrat"]);
    none("the americans", E::NRP);
}

#[test]
fn windows_do_not_change_results() {
    // the same PII far inside long non-ASCII text, with and without whitespace around it
    let core = "call me on +44 20 7946 0958, mail jane@example.org, card 4532276644577020";
    let plain = detect(core);
    for filler in ["日本語のテキスト", "Русский текст без цифр ", "word "] {
        let pad = filler.repeat(400);
        let text = format!("{pad}{core}\n{pad}");
        let shift = pad.chars().count();
        let got: Vec<(EntityType, usize, usize)> = detect(&text)
            .into_iter()
            .map(|s| (s.entity, s.start - shift, s.end - shift))
            .collect();
        let want: Vec<(EntityType, usize, usize)> = plain.iter().map(|s| (s.entity, s.start, s.end)).collect();
        assert_eq!(got, want, "filler {filler:?}");
    }
}

#[test]
fn many_candidates_in_one_text() {
    // thousands of candidates and context words in one text: results stay per-candidate correct
    let unit = "phone: 986.291.2294 and 58.74.121.78 on 1998-06-28\n";
    let text = unit.repeat(3000);
    let spans = detect(&text);
    assert_eq!(spans.len(), 9000);
    assert!(spans.windows(2).all(|w| w[0].end <= w[1].start));
    let per_line = unit.chars().count();
    assert_eq!(spans[2997 * 3].start, 2997 * per_line + 7);
    assert_eq!(spans[2997 * 3].entity, E::PHONE_NUMBER);
}

#[test]
fn arbitrary_text_does_not_panic_and_spans_are_valid() {
    // pseudo-random texts over characters that exercise every branch of the scan: digits, separators,
    // capitals (ASCII and accented), cue words, multi-byte scripts
    let pieces = [
        "1",
        "9",
        "0",
        " ",
        "\n",
        ".",
        ":",
        "@",
        "-",
        "+",
        "(",
        ")",
        "/",
        "A",
        "Z",
        "É",
        "Ł",
        "ß",
        "é",
        "日",
        "я",
        "😀",
        "'",
        "’",
        "My name is ",
        "Dear ",
        "Best regards,\n",
        "John ",
        "Smith",
        "from ",
        "Paris",
        "IT",
        "U1",
        "card ",
        "phone ",
        "a@b.co",
        "www.",
        ".com",
        "::",
        "bc1",
        "\t",
        ",",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let len = (next() % 60) as usize;
        let text: String = (0..len)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let chars = text.chars().count();
        let spans = detect(&text);
        assert!(spans.windows(2).all(|w| w[0].end <= w[1].start), "{text:?}: {spans:?}");
        assert!(
            spans
                .iter()
                .all(|s| s.start < s.end && s.end <= chars && s.score >= MIN_SCORE),
            "{text:?}: {spans:?}"
        );
    }
}
