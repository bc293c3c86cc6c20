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
