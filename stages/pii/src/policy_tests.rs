use super::*;
use crate::EntityType as E;

// ---- helpers ----

/// Code-point range of the first occurrence of `needle` in `text`.
fn code_point_range(text: &str, needle: &str) -> (usize, usize) {
    let byte = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"));
    let start = text[..byte].chars().count();
    (start, start + needle.chars().count())
}

fn span_of(text: &str, needle: &str, entity: EntityType) -> Span {
    let (start, end) = code_point_range(text, needle);
    Span {
        entity,
        start,
        end,
        score: 0.9,
    }
}

fn secret_of(text: &str, needle: &str, kind: SecretKind) -> Secret {
    let (start, end) = code_point_range(text, needle);
    Secret { kind, start, end }
}

fn reference_redacts_at(language: &str, text: &str, needle: &str, entity: EntityType, doc_freq: u64) -> bool {
    let span = span_of(text, needle, entity);
    let redaction = Policy::reference().redact(TurnText { text, language }, &[span], &[], &|_, _| doc_freq);
    assert_eq!(redaction.redacted, !redaction.replaced.is_empty());
    if redaction.redacted {
        let expected = text.replacen(needle, &format!("<PRESIDIO_ANONYMIZED_{}>", entity.as_str()), 1);
        assert_eq!(redaction.text, expected);
    } else {
        assert_eq!(redaction.text, text);
    }
    redaction.redacted
}

/// Whether the reference policy redacts `needle` in an English turn, with a doc-freq of 0.
fn redacts(text: &str, needle: &str, entity: EntityType) -> bool {
    reference_redacts_at("English", text, needle, entity, 0)
}

fn assert_redacted(text: &str, needle: &str, entity: EntityType) {
    assert!(
        redacts(text, needle, entity),
        "{entity} {needle:?} should be redacted in {text:?}"
    );
}

fn assert_kept(text: &str, needle: &str, entity: EntityType) {
    assert!(
        !redacts(text, needle, entity),
        "{entity} {needle:?} should be kept in {text:?}"
    );
}

fn no_doc_freq(_: EntityType, _: &str) -> u64 {
    panic!("the strict policy must not look up document frequencies")
}

const PHONE: &str = "555-123-4567";

// ---- policy surface ----

#[test]
fn reference_analyses_only_its_ten_languages() {
    let policy = Policy::reference();
    for language in REFERENCE_LANGUAGES {
        assert!(policy.analyses_language(language));
    }
    for language in ["Nolang", "Dutch", "Esperanto", "english", ""] {
        assert!(!policy.analyses_language(language), "{language}");
    }
}

#[test]
fn reference_counts_and_limits_the_five_redacted_types() {
    let policy = Policy::reference();
    assert_eq!(
        policy.counted_types(),
        &[E::PERSON, E::PHONE_NUMBER, E::EMAIL_ADDRESS, E::CREDIT_CARD, E::URL]
    );
    assert_eq!(policy.frequency_limit(E::PERSON), Some(50));
    for entity in [E::PHONE_NUMBER, E::EMAIL_ADDRESS, E::CREDIT_CARD, E::URL] {
        assert_eq!(policy.frequency_limit(entity), Some(10));
    }
    for entity in [E::DATE_TIME, E::LOCATION, E::IP_ADDRESS, E::US_SSN] {
        assert_eq!(policy.frequency_limit(entity), None);
    }
}

#[test]
fn operator_parses_its_three_names_only() {
    assert_eq!("replace".parse::<Operator>(), Ok(Operator::Replace));
    assert_eq!("mask".parse::<Operator>(), Ok(Operator::Mask));
    assert_eq!("hash".parse::<Operator>(), Ok(Operator::Hash));
    for op in [Operator::Replace, Operator::Mask, Operator::Hash] {
        assert_eq!(op.to_string().parse::<Operator>(), Ok(op));
    }
    let error = "redact".parse::<Operator>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown redaction operator \"redact\" (expected replace, mask or hash)"
    );
    assert!("Hash".parse::<Operator>().is_err());
}

#[test]
fn debug_of_strict_policy_hides_the_salt() {
    let policy = Policy::strict(vec![E::PERSON], Operator::Hash, b"pepper-salt-42".to_vec());
    let shown = format!("{policy:?}");
    assert!(
        shown.contains("Strict") && shown.contains("PERSON") && shown.contains("Hash"),
        "{shown}"
    );
    assert!(!shown.contains("pepper"), "{shown}");
    // nor as a list of bytes
    assert!(!shown.contains("112, 101, 112"), "{shown}");
    assert!(!format!("{policy:#?}").contains("pepper"));
    assert_eq!(format!("{:?}", Policy::reference()), "Reference");
}

// ---- doc-freq keys ----

#[test]
fn doc_freq_key_is_python_strip_then_lower() {
    assert_eq!(doc_freq_key("  John Smith\n"), "john smith");
    // Python's strip also removes the information separators \x1c-\x1f, NEL and NBSP
    assert_eq!(
        doc_freq_key("\u{1c}\u{1f} John Smith \u{85}\u{a0}\u{3000}"),
        "john smith"
    );
    // zero-width space is not whitespace for Python
    assert_eq!(doc_freq_key("\u{200b}X"), "\u{200b}x");
    assert_eq!(doc_freq_key("\u{180e}X"), "\u{180e}x");
    // full Unicode lower-casing, with final sigma and expanding İ
    assert_eq!(doc_freq_key("ΟΔΟΣ"), "οδος");
    assert_eq!(doc_freq_key("İstanbul"), "i\u{307}stanbul");
    assert_eq!(doc_freq_key("John.Doe@Mail.ORG"), "john.doe@mail.org");
}

#[test]
fn counted_keys_cover_counted_types_only() {
    let text = "Dear John Smith, call 555-123-4567 on 2024-01-02 or mail JOHN@acme.org; John Smith";
    let mut spans = vec![
        span_of(text, "John Smith", E::PERSON),
        span_of(text, PHONE, E::PHONE_NUMBER),
        span_of(text, "2024-01-02", E::DATE_TIME),
        span_of(text, "JOHN@acme.org", E::EMAIL_ADDRESS),
    ];
    let last = text.chars().count();
    spans.push(Span {
        entity: E::PERSON,
        start: last - 10,
        end: last,
        score: 0.9,
    });
    spans.push(Span {
        entity: E::PERSON,
        start: last - 10,
        end: last + 5,
        score: 0.9,
    });
    assert_eq!(
        Policy::reference().counted_keys(text, &spans),
        vec![
            (E::PERSON, "john smith".to_string()),
            (E::PHONE_NUMBER, PHONE.to_string()),
            (E::EMAIL_ADDRESS, "john@acme.org".to_string()),
            (E::PERSON, "john smith".to_string()),
        ]
    );
    let strict = Policy::strict(vec![], Operator::Replace, Vec::new());
    assert!(strict.counted_keys(text, &spans).is_empty());
}

// ---- doc-freq thresholds ----

#[test]
fn frequency_threshold_is_ten_for_the_four_types() {
    let cases = [
        ("tel: 555-123-4567", PHONE, E::PHONE_NUMBER),
        ("write to john.doe@gmail.com", "john.doe@gmail.com", E::EMAIL_ADDRESS),
        ("my card 4111 1111 1111 1111", "4111 1111 1111 1111", E::CREDIT_CARD),
        (
            "see https://www.linkedin.com/in/jane-doe",
            "https://www.linkedin.com/in/jane-doe",
            E::URL,
        ),
    ];
    for (text, needle, entity) in cases {
        assert!(
            reference_redacts_at("English", text, needle, entity, 9),
            "{entity} at 9"
        );
        assert!(
            !reference_redacts_at("English", text, needle, entity, 10),
            "{entity} at 10"
        );
        assert!(
            !reference_redacts_at("English", text, needle, entity, 11),
            "{entity} at 11"
        );
    }
}

#[test]
fn frequency_threshold_is_fifty_for_person() {
    let text = "Hello, my name is John Smith.";
    assert!(reference_redacts_at("English", text, "John Smith", E::PERSON, 49));
    assert!(!reference_redacts_at("English", text, "John Smith", E::PERSON, 50));
}

#[test]
fn doc_freq_is_looked_up_by_type_and_stripped_lowered_key() {
    let text = "Reach me on WhatsApp  +44 20 7946 0958 \nor mail John.Doe@Mail.org";
    let spans = [
        span_of(text, " +44 20 7946 0958 ", E::PHONE_NUMBER),
        span_of(text, "John.Doe@Mail.org", E::EMAIL_ADDRESS),
    ];
    let seen = std::cell::RefCell::new(Vec::new());
    let redaction = Policy::reference().redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &|entity, key| {
            seen.borrow_mut().push((entity, key.to_string()));
            0
        },
    );
    assert!(redaction.redacted);
    assert_eq!(
        seen.into_inner(),
        vec![
            (E::PHONE_NUMBER, "+44 20 7946 0958".to_string()),
            (E::EMAIL_ADDRESS, "john.doe@mail.org".to_string())
        ]
    );
}

// ---- PHONE_NUMBER ----

#[test]
fn phone_each_cue_in_before20() {
    for cue in [
        " m:", "\nm:", "tel.", "tel:", "tel ", "phone", "whatsapp", "wechat", "电话", "手机",
    ] {
        let text = format!("Contact{cue}{PHONE}");
        assert_redacted(&text, PHONE, E::PHONE_NUMBER);
        let upper = format!("Contact{}{PHONE}", cue.to_uppercase());
        assert_redacted(&upper, PHONE, E::PHONE_NUMBER);
    }
    for text in [
        format!("Contact us at {PHONE}"),
        format!("Contact m {PHONE}"),
        format!("Contact tel{PHONE}"),
        format!("Contact mobile: {PHONE}"),
        format!("Contact 电 话 {PHONE}"),
    ] {
        assert_kept(&text, PHONE, E::PHONE_NUMBER);
    }
}

#[test]
fn phone_cue_must_be_within_20_code_points() {
    for (gap, expected) in [(15, true), (16, false)] {
        let ascii = format!("phone{}{PHONE}", " ".repeat(gap));
        assert_eq!(redacts(&ascii, PHONE, E::PHONE_NUMBER), expected, "{ascii:?}");
        // multibyte filler: the window counts code points, not bytes
        let wide = format!("phone{}{PHONE}", "话".repeat(gap));
        assert_eq!(redacts(&wide, PHONE, E::PHONE_NUMBER), expected, "{wide:?}");
    }
}

#[test]
fn phone_must_be_longer_than_8() {
    assert_kept("tel: 12345678", "12345678", E::PHONE_NUMBER);
    assert_redacted("tel: 123456789", "123456789", E::PHONE_NUMBER);
}

#[test]
fn phone_allows_only_digits_space_dash_parens_plus() {
    for number in ["555 123 4567", "(555) 123-4567", "+1 (555) 123-4567", "5551234567"] {
        assert_redacted(&format!("tel: {number}"), number, E::PHONE_NUMBER);
    }
    for number in [
        "555.123.4567",
        "555/123/4567",
        "555_123_4567",
        "555\t123\t4567",
        "５５５-123-4567",
        "555-123-4567x",
    ] {
        assert_kept(&format!("tel: {number}"), number, E::PHONE_NUMBER);
    }
}

#[test]
fn phone_without_double_space() {
    assert_kept("tel: 555  123 4567", "555  123 4567", E::PHONE_NUMBER);
    assert_redacted("tel: 555 123 4567", "555 123 4567", E::PHONE_NUMBER);
}

#[test]
fn phone_ip_fragments_are_kept() {
    // the character rule already excludes these; the fragments stay for parity
    for ip in ["192.168.10.100", "127.0.0.1 1234", "255.255.255.0"] {
        assert_kept(&format!("phone: {ip}"), ip, E::PHONE_NUMBER);
    }
}

#[test]
fn phone_prev_not_a_quote() {
    assert_kept(&format!("tel: \"{PHONE}\""), PHONE, E::PHONE_NUMBER);
    assert_kept(&format!("tel: '{PHONE}'"), PHONE, E::PHONE_NUMBER);
    assert_redacted(&format!("tel: ({PHONE})"), PHONE, E::PHONE_NUMBER);
}

#[test]
fn phone_json_label_exception_needs_both_braces() {
    // `phone` does not count next to a JSON-style label when the message has both braces
    assert_kept(&format!("{{\"phone\": {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    assert_kept(&format!("{{'phone': {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    assert_kept(&format!("{{\"phone_number\": {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    assert_kept(&format!("{{'PhoneNumber': {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    // braces anywhere in the message count
    assert_kept(
        &format!("{{ \"a\": 1 }} and much later, \"phone\": {PHONE}"),
        PHONE,
        E::PHONE_NUMBER,
    );
    // without both braces the cue counts
    assert_redacted(&format!("\"phone\": {PHONE}"), PHONE, E::PHONE_NUMBER);
    assert_redacted(&format!("{{\"phone\": {PHONE}"), PHONE, E::PHONE_NUMBER);
    assert_redacted(&format!("\"phone\": {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    // with braces but no JSON label, `phone` counts
    assert_redacted(&format!("{{x}} my phone is {PHONE}"), PHONE, E::PHONE_NUMBER);
    // the exception only disables `phone`: other cues still count
    assert_redacted(&format!("{{tel: 1, \"phone\": {PHONE}}}"), PHONE, E::PHONE_NUMBER);
    assert_redacted(&format!("{{\"wechat_number\": {PHONE}}}"), PHONE, E::PHONE_NUMBER);
}

#[test]
fn phone_plus_digit_after_blank_needs_no_cue() {
    let number = "+1 555 123 4567";
    for before in ["Call ", "Call\n", "Call\t"] {
        assert_redacted(&format!("{before}{number} now"), number, E::PHONE_NUMBER);
    }
    // other characters before the plus
    for before in ["Call:", "Call(", "Call\r", "Call\u{a0}", "Call\u{3000}"] {
        assert_kept(&format!("{before}{number} now"), number, E::PHONE_NUMBER);
    }
    // nothing before it
    assert_kept(&format!("{number} now"), number, E::PHONE_NUMBER);
    // plus not followed by a digit, or no plus
    assert_kept("Call + 1 555 123 4567", "+ 1 555 123 4567", E::PHONE_NUMBER);
    assert_kept("Call 1 555 123 4567", "1 555 123 4567", E::PHONE_NUMBER);
}

// ---- EMAIL_ADDRESS ----

#[test]
fn email_plain_address_is_redacted() {
    assert_redacted(
        "write to john.doe@gmail.com please",
        "john.doe@gmail.com",
        E::EMAIL_ADDRESS,
    );
    assert_redacted("write to flyour@gmail.com please", "flyour@gmail.com", E::EMAIL_ADDRESS);
}

#[test]
fn email_prev_not_a_quote() {
    assert_kept("mail \"john.doe@gmail.com\"", "john.doe@gmail.com", E::EMAIL_ADDRESS);
    assert_kept("mail 'john.doe@gmail.com'", "john.doe@gmail.com", E::EMAIL_ADDRESS);
    assert_redacted("mail <john.doe@gmail.com>", "john.doe@gmail.com", E::EMAIL_ADDRESS);
}

#[test]
fn email_without_slash() {
    assert_kept("mail john/doe@gmail.com", "john/doe@gmail.com", E::EMAIL_ADDRESS);
    assert_kept("mail john.doe@gmail.com/x", "john.doe@gmail.com/x", E::EMAIL_ADDRESS);
}

#[test]
fn email_json_label_in_before20() {
    assert_kept(
        "{\"email\": john.doe@gmail.com}",
        "john.doe@gmail.com",
        E::EMAIL_ADDRESS,
    );
    assert_kept("{\"EMAIL\":john.doe@gmail.com}", "john.doe@gmail.com", E::EMAIL_ADDRESS);
    assert_redacted(
        "{\"e-mail\": john.doe@gmail.com}",
        "john.doe@gmail.com",
        E::EMAIL_ADDRESS,
    );
    assert_redacted("email: john.doe@gmail.com", "john.doe@gmail.com", E::EMAIL_ADDRESS);
    // the label starts 21 code points before the address
    let far = format!("\"email\":{}john.doe@gmail.com", " ".repeat(13));
    assert_redacted(&far, "john.doe@gmail.com", E::EMAIL_ADDRESS);
    let near = format!("\"email\":{}john.doe@gmail.com", " ".repeat(12));
    assert_kept(&near, "john.doe@gmail.com", E::EMAIL_ADDRESS);
}

#[test]
fn email_all_27_exclusions() {
    assert_eq!(EMAIL_EXCLUSIONS.len(), 27);
    for fragment in EMAIL_EXCLUSIONS {
        let address = if fragment.starts_with('@') {
            format!("bob{fragment}")
        } else {
            format!("{fragment}acme-corp.org")
        };
        assert_kept(&format!("mail {address} now"), &address, E::EMAIL_ADDRESS);
        let upper = address.to_uppercase();
        assert_kept(&format!("mail {upper} now"), &upper, E::EMAIL_ADDRESS);
        // contained anywhere, not only at the start
        let inside = format!("my{address}");
        assert_kept(&format!("mail {inside} now"), &inside, E::EMAIL_ADDRESS);
    }
    // near misses are redacted
    for address in [
        "bob@examples.com",
        "bob@xxxxxx.com",
        "bob@x.co",
        "infos@acme.org",
        "tester@acme.org",
    ] {
        assert_redacted(&format!("mail {address} now"), address, E::EMAIL_ADDRESS);
    }
}

#[test]
fn email_starting_with_your_at() {
    assert_kept("mail your@gmail.com", "your@gmail.com", E::EMAIL_ADDRESS);
    assert_kept("mail Your@Gmail.com", "Your@Gmail.com", E::EMAIL_ADDRESS);
    assert_redacted("mail yours@gmail.com", "yours@gmail.com", E::EMAIL_ADDRESS);
}

// ---- CREDIT_CARD ----

#[test]
fn credit_card_needs_card_within_50_code_points() {
    let number = "4111 1111 1111 1111";
    // "card" entirely inside the window, before and after
    for (gap, expected) in [(0, true), (46, true), (47, false)] {
        let before = format!("card{}{number}", " ".repeat(gap));
        assert_eq!(redacts(&before, number, E::CREDIT_CARD), expected, "{before:?}");
        let after = format!("{number}{}CARD", "x".repeat(gap));
        assert_eq!(redacts(&after, number, E::CREDIT_CARD), expected, "{after:?}");
        let wide_before = format!("Card{}{number}", "卡".repeat(gap));
        assert_eq!(
            redacts(&wide_before, number, E::CREDIT_CARD),
            expected,
            "{wide_before:?}"
        );
    }
    assert_kept(&format!("pay with {number}"), number, E::CREDIT_CARD);
    assert_redacted(&format!("my credit-card: {number}"), number, E::CREDIT_CARD);
}

// ---- URL ----

#[test]
fn url_only_linkedin_profiles() {
    for url in [
        "https://www.linkedin.com/in/jane-doe-12",
        "linkedin.com/in/jane",
        "https://WWW.LinkedIn.com/IN/Jane",
    ] {
        assert_redacted(&format!("see {url} ok"), url, E::URL);
    }
    for url in [
        "https://www.linkedin.com/company/acme",
        "https://example.com/in/jane",
        "https://linkedin.com/jane",
    ] {
        assert_kept(&format!("see {url} ok"), url, E::URL);
    }
}

// ---- PERSON ----

const NAME: &str = "John Smith";

#[test]
fn person_only_in_english_turns() {
    let text = "Hello, my name is John Smith.";
    assert!(reference_redacts_at("English", text, NAME, E::PERSON, 0));
    for language in ["French", "German", "english", "Nolang"] {
        assert!(!reference_redacts_at(language, text, NAME, E::PERSON, 0), "{language}");
    }
}

#[test]
fn person_prev_not_a_quote() {
    assert_kept("Dear \"John Smith\"", NAME, E::PERSON);
    assert_kept("Dear 'John Smith'", NAME, E::PERSON);
    assert_redacted("Dear (John Smith)", NAME, E::PERSON);
}

#[test]
fn person_exceptions_keep_the_name() {
    // (message, span text): every message has a cue, so only the exception keeps the name
    let kept = [
        ("Dear John\nSmith", "John\nSmith"),
        ("Dear John Smith2", "John Smith2"),
        ("Dear John Smith ٣", "John Smith ٣"),
        ("Dear John the Smith", "John the Smith"),
        ("Dear John THE Smith", "John THE Smith"),
        ("Meow! Dear John Smith", NAME),
        ("meow dear John Smith", NAME),
        ("[INST] Dear John Smith", NAME),
        ("[Dear John Smith] ok", NAME),
        ("write a story: Dear John Smith", NAME),
        ("Please write a story, dear John Smith", NAME),
        ("Dear  John Smith", " John Smith"),
        ("Dear John Smith ", "John Smith "),
        ("Dear John Smith\u{1c}", "John Smith\u{1c}"),
        ("Dear J", "J"),
        ("Dear John Smith, hi", "John Smith,"),
        ("Dear John (Smith)", "John (Smith)"),
        ("Dear John_Smith Jr", "John_Smith Jr"),
        ("Dear John O'Smith", "John O'Smith"),
        ("Dear John Smith!", "John Smith!"),
        ("Dear John O’Smith", "John O’Smith"),
        ("Dear John Smith，Jr", "John Smith，Jr"),
        ("Dear J. Smith", "J. Smith"),
        ("Dear J Smith", "J Smith"),
        ("Dear .John Smith", ".John Smith"),
        ("Dear -John Smith", "-John Smith"),
        ("Dear John Smith.", "John Smith."),
        ("Dear John Smith-", "John Smith-"),
        ("Dear John - Smith", "John - Smith"),
        ("Dear John- Smith", "John- Smith"),
        ("Dear John -Smith", "John -Smith"),
        ("Dear John", "John"),
        ("Dear Jean-Luc", "Jean-Luc"),
        ("Dear john Smith", "john Smith"),
    ];
    for (text, name) in kept {
        assert_kept(text, name, E::PERSON);
    }
}

#[test]
fn person_near_misses_of_the_exceptions_are_redacted() {
    let redacted = [
        ("Dear John Smith", NAME),
        ("Dear John Theodore Smith", "John Theodore Smith"),
        ("I said meow. Dear John Smith", NAME),
        ("x[INST] Dear John Smith", NAME),
        ("[a long system prompt] Dear John Smith", NAME),
        ("Write a story: Dear John Smith", NAME),
        ("Please now write a story, dear John Smith", NAME),
        ("Dear John A. Smith", "John A. Smith"),
        ("Dear Mary-Jane Smith", "Mary-Jane Smith"),
        ("Dear Jo Smith", "Jo Smith"),
        ("Dear émile Zola", "émile Zola"),
        ("Dear Zoë Ångström", "Zoë Ångström"),
        // a digit is a Unicode decimal digit (Python's `\d`); a Roman numeral is not one
        ("Dear John Smith Ⅳ", "John Smith Ⅳ"),
    ];
    for (text, name) in redacted {
        assert_redacted(text, name, E::PERSON);
    }
}

#[test]
fn person_introduction_cues_must_end_before20() {
    for cue in PERSON_INTRODUCTION_CUES {
        let text = format!("Hey, {cue}John Smith");
        assert_redacted(&text, NAME, E::PERSON);
        let shouted = format!("HEY, {}John Smith", cue.to_uppercase());
        assert_redacted(&shouted, NAME, E::PERSON);
        // the cue is in before20 but does not end it
        let inside = format!("{cue}glad. John Smith");
        assert_kept(&inside, NAME, E::PERSON);
        // trailing space is part of the cue
        let spaced = format!("Hey, {}  John Smith", cue.trim_end());
        assert_kept(&spaced, NAME, E::PERSON);
    }
    assert_kept("Hey, I’m John Smith", NAME, E::PERSON);
    assert_kept("Hey, I am John Smith", "am John Smith", E::PERSON);
}

#[test]
fn person_sign_off_cues_anywhere_in_before20() {
    for cue in PERSON_SIGN_OFF_CUES {
        let text = format!("{cue}\nJohn Smith");
        assert_redacted(&text, NAME, E::PERSON);
        let upper = format!("{}\nJohn Smith", cue.to_uppercase());
        assert_redacted(&upper, NAME, E::PERSON);
        // not at the end of before20
        let inside = format!("{cue}bye\n\nJohn Smith");
        assert_redacted(&inside, NAME, E::PERSON);
    }
    // without their space or comma the cues do not count
    for text in [
        "Best\nJohn Smith",
        "Sincerely\nJohn Smith",
        "Thanks!\nJohn Smith",
        "Yours\nJohn Smith",
        "Faithfully\nJohn Smith",
        "Cheers!\nJohn Smith",
        "Take care\nJohn Smith",
        "Dear\nJohn Smith",
        "Hello!\nJohn Smith",
        "Hi\nJohn Smith",
        "Regard\nJohn Smith",
        "Written by John Smith",
    ] {
        assert_kept(text, NAME, E::PERSON);
    }
    // the cue has to be within the 20 code points before the name
    assert_kept("Dear friends and all my colleagues, John Smith", NAME, E::PERSON);
    assert_redacted("Dear friends and all my colleagues, hi John Smith", NAME, E::PERSON);
}

// ---- what the reference never redacts ----

#[test]
fn other_types_are_kept_whatever_the_context() {
    let text = "Dear card phone: 2024-01-02 Paris 10.0.0.1 078-05-1120 Dear";
    let spans = [
        span_of(text, "2024-01-02", E::DATE_TIME),
        span_of(text, "Paris", E::LOCATION),
        span_of(text, "10.0.0.1", E::IP_ADDRESS),
        span_of(text, "078-05-1120", E::US_SSN),
    ];
    let redaction = Policy::reference().redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &|_, _| 0,
    );
    assert_eq!(
        redaction,
        Redaction {
            text: text.to_string(),
            redacted: false,
            replaced: vec![]
        }
    );
}

#[test]
fn spans_of_unanalysed_languages_are_ignored() {
    let text = format!("tel: {PHONE}");
    let spans = [span_of(&text, PHONE, E::PHONE_NUMBER)];
    for language in ["Nolang", "Dutch"] {
        let redaction = Policy::reference().redact(TurnText { text: &text, language }, &spans, &[], &|_, _| 0);
        assert!(!redaction.redacted, "{language}");
    }
    let redaction = Policy::reference().redact(
        TurnText {
            text: &text,
            language: "Dutch",
        },
        &spans,
        &[],
        &|_, _| 0,
    );
    assert_eq!(redaction.text, text);
}

// ---- offsets, secrets, overlaps ----

#[test]
fn multibyte_text_is_replaced_on_code_points() {
    let text = "你好！😀 My name is John Smith. 电话：555-123-4567，邮箱 zhang.wei@qq.com 🙏";
    let spans = [
        span_of(text, NAME, E::PERSON),
        span_of(text, PHONE, E::PHONE_NUMBER),
        span_of(text, "zhang.wei@qq.com", E::EMAIL_ADDRESS),
    ];
    let redaction = Policy::reference().redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &|_, _| 1,
    );
    assert_eq!(
        redaction.text,
        "你好！😀 My name is <PRESIDIO_ANONYMIZED_PERSON>. 电话：<PRESIDIO_ANONYMIZED_PHONE_NUMBER>，邮箱 \
         <PRESIDIO_ANONYMIZED_EMAIL_ADDRESS> 🙏"
    );
    assert!(redaction.redacted);
    let ranges: Vec<(usize, usize)> = redaction.replaced.iter().map(|r| (r.start, r.end)).collect();
    assert_eq!(ranges, spans.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>());
    assert_eq!(redaction.replaced[0].label, ReplacedLabel::Entity(E::PERSON));
}

#[test]
fn secrets_are_replaced_in_every_language_and_win_over_entities() {
    let key = "sk-abc";
    let text = format!("Mi clave: {key} y tel: {PHONE} 🔑");
    let secret = secret_of(&text, key, SecretKind::OpenAiApiKey);
    for language in ["English", "Esperanto", "Nolang"] {
        let redaction = Policy::reference().redact(TurnText { text: &text, language }, &[], &[secret], &|_, _| 0);
        assert_eq!(
            redaction.text,
            format!("Mi clave: <SECRET_REDACTED_OPENAI_API_KEY> y tel: {PHONE} 🔑")
        );
        assert!(redaction.redacted);
        assert_eq!(
            redaction.replaced,
            vec![Replaced {
                label: ReplacedLabel::Secret(SecretKind::OpenAiApiKey),
                start: secret.start,
                end: secret.end
            }]
        );
    }
    // a redactable entity that overlaps the secret is dropped; one elsewhere is still replaced
    let phone = span_of(&text, PHONE, E::PHONE_NUMBER);
    let overlapping = span_of(&text, "abc y tel", E::PHONE_NUMBER);
    let wide_secret = Secret {
        kind: SecretKind::Jwt,
        start: phone.start + 4,
        end: phone.end + 1,
    };
    let redaction = Policy::reference().redact(
        TurnText {
            text: &text,
            language: "English",
        },
        &[overlapping, phone],
        &[secret, wide_secret],
        &|_, _| 0,
    );
    assert_eq!(
        redaction.text,
        "Mi clave: <SECRET_REDACTED_OPENAI_API_KEY> y tel: 555-<SECRET_REDACTED_JWT>🔑"
    );
    assert_eq!(redaction.replaced.len(), 2);
    // the strict policy too, whatever its operator
    let strict = Policy::strict(vec![], Operator::Mask, Vec::new());
    let redaction = strict.redact(
        TurnText {
            text: &text,
            language: "Spanish",
        },
        &[overlapping, phone],
        &[secret],
        &no_doc_freq,
    );
    assert_eq!(
        redaction.text,
        "Mi clave: <SECRET_REDACTED_OPENAI_API_KEY> y tel: ************ 🔑"
    );
}

#[test]
fn invalid_and_overlapping_spans_are_handled() {
    let text = "Dear John Smith and tel: 555-123-4567";
    let len = text.chars().count();
    let spans = [
        Span {
            entity: E::PHONE_NUMBER,
            start: len - 5,
            end: len + 3,
            score: 0.9,
        },
        Span {
            entity: E::PHONE_NUMBER,
            start: 7,
            end: 7,
            score: 0.9,
        },
        Span {
            entity: E::PHONE_NUMBER,
            start: 9,
            end: 3,
            score: 0.9,
        },
    ];
    let redaction = Policy::reference().redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &|_, _| 0,
    );
    assert!(!redaction.redacted);
    let strict = Policy::strict(vec![], Operator::Replace, Vec::new());
    let overlapping = [span_of(text, "Smith and", E::LOCATION), span_of(text, NAME, E::PERSON)];
    let redaction = strict.redact(
        TurnText {
            text,
            language: "English",
        },
        &overlapping,
        &[],
        &no_doc_freq,
    );
    assert_eq!(
        redaction.text,
        "Dear <PRESIDIO_ANONYMIZED_PERSON> and tel: 555-123-4567"
    );
}

// ---- strict ----

#[test]
fn strict_replaces_every_span_of_its_types_without_conditions() {
    let text = "bob said 2024-01-02 at Paris, mail info@example.com";
    let spans = [
        span_of(text, "bob", E::PERSON),
        span_of(text, "2024-01-02", E::DATE_TIME),
        span_of(text, "Paris", E::LOCATION),
        span_of(text, "info@example.com", E::EMAIL_ADDRESS),
    ];
    let all = Policy::strict(vec![], Operator::Replace, Vec::new());
    let redaction = all.redact(
        TurnText {
            text,
            language: "Nolang",
        },
        &spans,
        &[],
        &no_doc_freq,
    );
    assert_eq!(
        redaction.text,
        "<PRESIDIO_ANONYMIZED_PERSON> said <PRESIDIO_ANONYMIZED_DATE_TIME> at <PRESIDIO_ANONYMIZED_LOCATION>, mail \
         <PRESIDIO_ANONYMIZED_EMAIL_ADDRESS>"
    );
    let only_email = Policy::strict(vec![E::EMAIL_ADDRESS, E::EMAIL_ADDRESS], Operator::Replace, Vec::new());
    let redaction = only_email.redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &no_doc_freq,
    );
    assert_eq!(
        redaction.text,
        "bob said 2024-01-02 at Paris, mail <PRESIDIO_ANONYMIZED_EMAIL_ADDRESS>"
    );
    assert_eq!(redaction.replaced.len(), 1);
}

#[test]
fn strict_surface() {
    let Policy::Strict { types, .. } = Policy::strict(vec![], Operator::Mask, Vec::new()) else {
        panic!("strict() builds a strict policy");
    };
    assert_eq!(types, EntityType::ALL.to_vec());
    let strict = Policy::strict(vec![E::URL], Operator::Hash, b"s".to_vec());
    for language in ["Nolang", "Esperanto", "English", ""] {
        assert!(strict.analyses_language(language));
    }
    assert!(strict.counted_types().is_empty());
    assert_eq!(strict.frequency_limit(E::PERSON), None);
}

#[test]
fn strict_mask_writes_one_star_per_code_point() {
    let text = "张伟 ate 🍎 with José";
    let spans = [span_of(text, "张伟", E::PERSON), span_of(text, "José", E::PERSON)];
    let strict = Policy::strict(vec![E::PERSON], Operator::Mask, Vec::new());
    let redaction = strict.redact(
        TurnText {
            text,
            language: "Chinese",
        },
        &spans,
        &[],
        &no_doc_freq,
    );
    assert_eq!(redaction.text, "** ate 🍎 with ****");
}

#[test]
fn strict_hash_is_salted_sha256_prefix() {
    let text = "Dear John Smith and 张伟";
    let spans = [span_of(text, NAME, E::PERSON), span_of(text, "张伟", E::PERSON)];
    let peppered = Policy::strict(vec![], Operator::Hash, b"pepper".to_vec());
    let redaction = peppered.redact(
        TurnText {
            text,
            language: "English",
        },
        &spans,
        &[],
        &no_doc_freq,
    );
    // sha256(b"pepper" + "John Smith"), sha256(b"" + "张伟") computed with Python's hashlib
    assert_eq!(
        redaction.text,
        "Dear <PERSON:d3aefee143de66ad> and <PERSON:04043b797930e97c>"
    );
    let unsalted = Policy::strict(vec![], Operator::Hash, Vec::new());
    let redaction = unsalted.redact(
        TurnText {
            text,
            language: "English",
        },
        &spans[1..],
        &[],
        &no_doc_freq,
    );
    assert_eq!(redaction.text, "Dear John Smith and <PERSON:a3a0bafd0beed44d>");
    let other_salt = Policy::strict(vec![], Operator::Hash, b"other".to_vec());
    let redaction = other_salt.redact(
        TurnText {
            text,
            language: "English",
        },
        &spans[..1],
        &[],
        &no_doc_freq,
    );
    assert!(!redaction.text.contains("d3aefee143de66ad"));
}

/// Deterministic pseudo-random texts and spans (a property test without a proptest dependency): masking keeps
/// every code point outside the replaced ranges and stars every one inside.
#[test]
fn mask_preserves_everything_outside_replaced_ranges() {
    let alphabet: Vec<char> = "ab é你😀\n-".chars().collect();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound.max(1) as u64) as usize
    };
    let strict = Policy::strict(vec![], Operator::Mask, Vec::new());
    for _ in 0..500 {
        let len = next(40);
        let text: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
        let spans: Vec<Span> = (0..next(5))
            .map(|_| {
                let start = next(len + 2);
                Span {
                    entity: E::PERSON,
                    start,
                    end: start + next(6),
                    score: 0.5,
                }
            })
            .collect();
        let redaction = strict.redact(
            TurnText {
                text: &text,
                language: "English",
            },
            &spans,
            &[],
            &no_doc_freq,
        );
        let original: Vec<char> = text.chars().collect();
        let masked: Vec<char> = redaction.text.chars().collect();
        assert_eq!(masked.len(), original.len(), "{text:?} {spans:?}");
        for pair in redaction.replaced.windows(2) {
            assert!(pair[0].end <= pair[1].start);
        }
        for (index, (&was, &now)) in original.iter().zip(&masked).enumerate() {
            let inside = redaction.replaced.iter().any(|r| r.start <= index && index < r.end);
            assert_eq!(now, if inside { '*' } else { was }, "{text:?} {spans:?} at {index}");
        }
        assert_eq!(redaction.redacted, !redaction.replaced.is_empty());
    }
}
