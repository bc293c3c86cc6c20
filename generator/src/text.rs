//! Message bodies: heavy-tailed lengths, sentences of real words in the conversation's
//! script, a uniqueness block that opens every reply, and planted PII and toxic phrases
//! whose exact positions the truth files record.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::languages::{capitalized, Language};

/// No message grows past this many tokens, so a single draw cannot explode a row.
pub const MAX_MESSAGE_TOKENS: u32 = 8_000;
/// A planted phrase sits in at least this many native tokens, so it never dominates the
/// message's language.
const MIN_TOKENS_AROUND_PLANTED: u32 = 40;
/// Words in the uniqueness block that opens every reply.
pub const UNIQUENESS_BLOCK_WORDS: usize = 8;

// Log-normal parameters: mean = exp(mu + sigma^2 / 2) gives ~300 user and ~440 assistant
// tokens before the cap, medians well below the means as in real chat logs.
const USER_SIGMA: f64 = 1.25;
const USER_MEAN_TOKENS: f64 = 300.0;
const ASSISTANT_SIGMA: f64 = 0.85;
const ASSISTANT_MEAN_TOKENS: f64 = 440.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One planted item inside a message; offsets are in code points of the message content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planted {
    Pii {
        entity: &'static str,
        value: String,
        start: usize,
        end: usize,
        placeholder: bool,
    },
    Toxic {
        phrase: &'static str,
    },
}

/// A generated message: its content, its token count, and what was planted in it.
#[derive(Debug, Clone)]
pub struct ComposedMessage {
    pub content: String,
    pub tokens: u32,
    pub planted: Vec<Planted>,
}

fn draw_length(rng: &mut ChaCha8Rng, mean: f64, sigma: f64) -> u32 {
    let mu = mean.ln() - sigma * sigma / 2.0;
    let distribution = match LogNormal::new(mu, sigma) {
        Ok(distribution) => distribution,
        Err(_) => return mean as u32,
    };
    let drawn: f64 = distribution.sample(rng);
    (drawn.round() as u32).clamp(1, MAX_MESSAGE_TOKENS)
}

fn word_tokens(language: &Language, word: &str) -> u32 {
    if language.writing.tokens_are_chars {
        word.chars().count() as u32
    } else {
        1
    }
}

fn push_word(out: &mut String, word: &str, capitalize: bool) {
    if capitalize {
        out.push_str(&capitalized(word));
    } else {
        out.push_str(word);
    }
}

/// One sentence of at most `budget` tokens (at least one word); returns its tokens.
fn write_sentence(rng: &mut ChaCha8Rng, language: &Language, budget: u32, question: bool, out: &mut String) -> u32 {
    let writing = &language.writing;
    let wanted = if writing.tokens_are_chars {
        rng.random_range(8..=30)
    } else {
        rng.random_range(4..=16)
    }
    .min(budget)
    .max(1);
    let mut tokens = 0;
    let mut first = true;
    while tokens < wanted {
        let word = language.words[rng.random_range(0..language.words.len())];
        if !first {
            if rng.random_bool(0.07) {
                out.push_str(writing.comma);
            }
            if writing.spaced {
                out.push(' ');
            }
        }
        push_word(out, word, first && writing.capitalize);
        tokens += word_tokens(language, word);
        first = false;
    }
    out.push_str(if question {
        writing.question_mark
    } else {
        writing.full_stop
    });
    tokens
}

/// Paragraphs of sentences up to `target` tokens; assistants sometimes answer with a
/// numbered list. Returns the tokens written.
fn write_body(rng: &mut ChaCha8Rng, language: &Language, target: u32, role: Role, out: &mut String) -> u32 {
    let writing = &language.writing;
    let paragraph_break = match role {
        Role::User => "\n",
        Role::Assistant => "\n\n",
    };
    let question_share = match role {
        Role::User => 0.2,
        Role::Assistant => 0.04,
    };
    let mut tokens = 0;
    let mut sentences_in_paragraph = 0;
    let mut paragraph_length = rng.random_range(2..=5);
    while tokens < target {
        if !out.is_empty() {
            if sentences_in_paragraph >= paragraph_length {
                out.push_str(paragraph_break);
                sentences_in_paragraph = 0;
                paragraph_length = rng.random_range(2..=5);
                if role == Role::Assistant && target - tokens > 60 && rng.random_bool(0.2) {
                    let items = rng.random_range(3..=6);
                    for item in 1..=items {
                        if tokens >= target {
                            break;
                        }
                        if item > 1 {
                            out.push('\n');
                        }
                        out.push_str(&format!("{item}. "));
                        tokens += write_sentence(rng, language, target - tokens, false, out);
                    }
                    out.push_str(paragraph_break);
                    continue;
                }
            } else {
                out.push_str(writing.sentence_gap);
            }
        }
        let question = rng.random_bool(question_share);
        tokens += write_sentence(rng, language, target - tokens, question, out);
        sentences_in_paragraph += 1;
    }
    tokens
}

/// Spreads a 40-bit code over the whole range bijectively, so neighbouring codes do not
/// share their first words. Each step (xor, multiply by an odd constant, xorshift) is a
/// bijection modulo 2^40.
fn scramble_code(code: u64, salt: u64) -> u64 {
    const MASK: u64 = (1 << 40) - 1;
    let mut value = (code ^ salt) & MASK;
    value = value.wrapping_mul(0x9E37_79B9_7F4B) & MASK;
    value ^= value >> 21;
    value = value.wrapping_mul(0x5851_F42D_4C95_7F2D | 1) & MASK;
    value ^= value >> 19;
    value
}

/// Writes the uniqueness block: `code` (< 2^40) as eight base-n digits, each a word. With
/// n >= 32 words, n^8 >= 2^40, so distinct codes give distinct word sequences, and since the
/// separator and the full stop never occur inside a word, distinct blocks give distinct
/// replies. Returns the tokens written.
fn write_uniqueness_block(language: &Language, code: u64, salt: u64, out: &mut String) -> u32 {
    let writing = &language.writing;
    let base = language.words.len() as u64;
    let mut remaining = scramble_code(code, salt);
    let mut digits = [0u64; UNIQUENESS_BLOCK_WORDS];
    for digit in digits.iter_mut() {
        *digit = remaining % base;
        remaining /= base;
    }
    // The top digits of a 40-bit value are nearly always 0, which would end every block
    // with the same word. Adding a function of the low digits to them is invertible (the
    // low digits are unchanged), so the block stays injective.
    digits[7] = (digits[7] + digits[0] + 3 * digits[1]) % base;
    digits[6] = (digits[6] + digits[2] + 5 * digits[3]) % base;
    let mut tokens = 0;
    for (position, digit) in digits.iter().enumerate() {
        let word = language.words[*digit as usize];
        if position > 0 {
            out.push_str(writing.block_separator);
        }
        push_word(out, word, position == 0 && writing.capitalize);
        tokens += word_tokens(language, word);
    }
    out.push_str(writing.full_stop);
    tokens
}

const FIRST_NAMES: &[&str] = &[
    "John",
    "Emily",
    "Michael",
    "Sarah",
    "David",
    "Jessica",
    "James",
    "Ashley",
    "Robert",
    "Olivia",
    "William",
    "Sophia",
    "Daniel",
    "Emma",
    "Matthew",
    "Hannah",
    "Andrew",
    "Megan",
    "Joshua",
    "Rachel",
    "Christopher",
    "Lauren",
    "Ryan",
    "Natalie",
    "Brandon",
    "Victoria",
    "Kevin",
    "Grace",
    "Thomas",
    "Chloe",
];
const LAST_NAMES: &[&str] = &[
    "Carter", "Davis", "Brown", "Johnson", "Miller", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson",
    "Martin", "Thompson", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "Allen", "King", "Wright", "Scott",
    "Green", "Baker", "Adams", "Nelson", "Mitchell", "Roberts", "Turner",
];
const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "qq.com",
    "163.com",
    "mail.ru",
    "yandex.ru",
    "icloud.com",
    "protonmail.com",
];
const PLACEHOLDER_EMAILS: &[&str] = &[
    "info@company.com",
    "example@example.com",
    "your.email@example.com",
    "name@domain.com",
    "support@yourcompany.com",
    "john.doe@example.com",
];

/// English insults and profanity planted into toxic turns.
pub const TOXIC_PHRASES: &[&str] = &[
    "you are a fucking idiot",
    "shut the fuck up",
    "you stupid piece of shit",
    "go fuck yourself",
    "what a dumb bitch",
    "you worthless moron",
    "this is fucking bullshit",
    "screw you, asshole",
    "you are so damn stupid",
    "nobody cares, you pathetic loser",
    "suck my dick",
    "you brainless dumbass",
    "eat shit, you clown",
    "what a useless prick you are",
];

/// The kinds of PII a user turn may carry.
#[derive(Debug, Clone, Copy)]
enum PiiKind {
    Email,
    Phone,
    CreditCard,
    SelfIntroduction,
    Signature,
    PlaceholderEmail,
}

fn draw_pii_kind(rng: &mut ChaCha8Rng) -> PiiKind {
    let roll: f64 = rng.random();
    match roll {
        _ if roll < 0.33 => PiiKind::Email,
        _ if roll < 0.58 => PiiKind::Phone,
        _ if roll < 0.68 => PiiKind::CreditCard,
        _ if roll < 0.83 => PiiKind::SelfIntroduction,
        _ if roll < 0.94 => PiiKind::Signature,
        _ => PiiKind::PlaceholderEmail,
    }
}

fn full_name(rng: &mut ChaCha8Rng) -> (&'static str, &'static str) {
    (
        FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
        LAST_NAMES[rng.random_range(0..LAST_NAMES.len())],
    )
}

fn draw_email(rng: &mut ChaCha8Rng) -> String {
    let (first, last) = full_name(rng);
    let domain = EMAIL_DOMAINS[rng.random_range(0..EMAIL_DOMAINS.len())];
    let first = first.to_lowercase();
    let last = last.to_lowercase();
    match rng.random_range(0..3) {
        0 => format!("{first}.{last}@{domain}"),
        1 => format!("{first}{last}{}@{domain}", rng.random_range(1..100)),
        _ => format!("{}{last}@{domain}", &first[..1]),
    }
}

fn digits(rng: &mut ChaCha8Rng, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn draw_phone(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..6) {
        0 => format!("+1 {}-555-01{}", rng.random_range(201..990), digits(rng, 2)),
        1 => format!("+1 ({}) 555-01{}", rng.random_range(201..990), digits(rng, 2)),
        2 => format!("+44 7700 900{}", digits(rng, 3)),
        3 => format!(
            "+7 9{} {}-{}-{}",
            digits(rng, 2),
            digits(rng, 3),
            digits(rng, 2),
            digits(rng, 2)
        ),
        4 => format!("+86 13{} {} {}", digits(rng, 1), digits(rng, 4), digits(rng, 4)),
        _ => format!("+49 151 {}", digits(rng, 8)),
    }
}

/// The Luhn check digit for a number without it.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (position_from_right, &digit) in payload.iter().rev().enumerate() {
        let mut value = u32::from(digit);
        if position_from_right % 2 == 0 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    ((10 - sum % 10) % 10) as u8
}

fn draw_credit_card(rng: &mut ChaCha8Rng) -> String {
    let (prefix, length): (Vec<u8>, usize) = match rng.random_range(0..3) {
        0 => (vec![4], 16),
        1 => (vec![5, rng.random_range(1..=5)], 16),
        _ => (vec![3, if rng.random_bool(0.5) { 4 } else { 7 }], 15),
    };
    let mut number = prefix;
    while number.len() < length - 1 {
        number.push(rng.random_range(0..10));
    }
    number.push(luhn_check_digit(&number));
    let text: String = number.iter().map(|digit| char::from(b'0' + digit)).collect();
    let separator = ["", " ", "-"][rng.random_range(0..3)];
    let groups: Vec<&str> = if length == 15 {
        vec![&text[0..4], &text[4..10], &text[10..15]]
    } else {
        vec![&text[0..4], &text[4..8], &text[8..12], &text[12..16]]
    };
    groups.join(separator)
}

/// A PII phrase: (before, value, after, entity, placeholder, goes at the end).
struct PiiPhrase {
    before: &'static str,
    value: String,
    after: &'static str,
    entity: &'static str,
    placeholder: bool,
    at_end: bool,
}

fn draw_pii_phrase(rng: &mut ChaCha8Rng) -> PiiPhrase {
    let at_end = rng.random_bool(0.6);
    let pick =
        |rng: &mut ChaCha8Rng, options: &[(&'static str, &'static str)]| options[rng.random_range(0..options.len())];
    match draw_pii_kind(rng) {
        PiiKind::Email => {
            let (before, after) = pick(
                rng,
                &[
                    ("My email is ", " so you can reach me there."),
                    ("Please send the results to my email: ", " thanks."),
                    ("you can contact me at my email ", " anytime."),
                    ("my e-mail address is ", " by the way."),
                ],
            );
            PiiPhrase {
                before,
                value: draw_email(rng),
                after,
                entity: "EMAIL_ADDRESS",
                placeholder: false,
                at_end,
            }
        }
        PiiKind::Phone => {
            let (before, after) = pick(
                rng,
                &[
                    ("Call me at ", " if anything is unclear."),
                    ("My phone: ", " (text first)."),
                    ("WhatsApp ", " for details."),
                    ("my phone number is ", " please text me."),
                ],
            );
            PiiPhrase {
                before,
                value: draw_phone(rng),
                after,
                entity: "PHONE_NUMBER",
                placeholder: false,
                at_end,
            }
        }
        PiiKind::CreditCard => {
            let (before, after) = pick(
                rng,
                &[
                    ("My card number is ", " and it expires 08/27."),
                    ("Please charge my credit card ", " for the subscription."),
                    ("card: ", " cvv 123."),
                ],
            );
            PiiPhrase {
                before,
                value: draw_credit_card(rng),
                after,
                entity: "CREDIT_CARD",
                placeholder: false,
                at_end,
            }
        }
        PiiKind::SelfIntroduction => {
            let (first, last) = full_name(rng);
            let (before, after) = pick(
                rng,
                &[
                    ("My name is ", " and I need some help."),
                    ("Hi, I'm ", ", a student."),
                    ("Hello, I am ", " and I work as a teacher."),
                ],
            );
            PiiPhrase {
                before,
                value: format!("{first} {last}"),
                after,
                entity: "PERSON",
                placeholder: false,
                at_end: false,
            }
        }
        PiiKind::Signature => {
            let (first, last) = full_name(rng);
            let (before, after) = pick(
                rng,
                &[
                    ("\nBest regards,\n", ""),
                    ("\nThanks,\n", ""),
                    ("\nSincerely,\n", ""),
                    ("\nKind regards,\n", ""),
                ],
            );
            PiiPhrase {
                before,
                value: format!("{first} {last}"),
                after,
                entity: "PERSON",
                placeholder: false,
                at_end: true,
            }
        }
        PiiKind::PlaceholderEmail => {
            let (before, after) = pick(
                rng,
                &[
                    ("Use a placeholder like ", " in the template."),
                    ("for example ", " or similar."),
                ],
            );
            let value = PLACEHOLDER_EMAILS[rng.random_range(0..PLACEHOLDER_EMAILS.len())].to_string();
            PiiPhrase {
                before,
                value,
                after,
                entity: "EMAIL_ADDRESS",
                placeholder: true,
                at_end,
            }
        }
    }
}

fn whitespace_tokens(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

/// What a message is to carry, decided by the planner.
pub struct MessageRequest<'a> {
    pub language: &'a Language,
    pub role: Role,
    /// May this user message be the empty string (never the first turn: its language would
    /// be undefined).
    pub may_be_empty: bool,
    pub toxic: bool,
    /// For replies: the unique code (< 2^40) and salt of the uniqueness block.
    pub uniqueness: Option<(u64, u64)>,
}

/// Share of eligible user turns left empty; eligible turns are about 60 % of user turns, so
/// about 1 % of all user turns are empty.
const EMPTY_USER_SHARE_OF_ELIGIBLE: f64 = 0.0167;
/// Share of user turns carrying one planted PII item.
const PII_SHARE: f64 = 0.03;

/// Composes one message from its own random stream.
pub fn compose_message(rng: &mut ChaCha8Rng, request: &MessageRequest<'_>) -> ComposedMessage {
    let language = request.language;
    if request.role == Role::User
        && request.may_be_empty
        && !request.toxic
        && rng.random_bool(EMPTY_USER_SHARE_OF_ELIGIBLE)
    {
        return ComposedMessage {
            content: String::new(),
            tokens: 0,
            planted: Vec::new(),
        };
    }
    let mut target = match request.role {
        Role::User => draw_length(rng, USER_MEAN_TOKENS, USER_SIGMA),
        Role::Assistant => draw_length(rng, ASSISTANT_MEAN_TOKENS, ASSISTANT_SIGMA),
    };
    let pii = (request.role == Role::User && rng.random_bool(PII_SHARE)).then(|| draw_pii_phrase(rng));
    if pii.is_some() || request.toxic {
        target = target.max(MIN_TOKENS_AROUND_PLANTED);
    }

    let mut content = String::with_capacity(target as usize * 7 + 64);
    let mut tokens = 0;
    if let Some((code, salt)) = request.uniqueness {
        // The block must open the reply: the injectivity argument reads it from the start.
        // The body that follows starts with the script's sentence gap.
        tokens += write_uniqueness_block(language, code, salt, &mut content);
    }
    let mut planted = Vec::new();
    if let Some(phrase) = &pii {
        if !phrase.at_end && request.uniqueness.is_none() {
            let start = phrase.before.chars().count();
            let end = start + phrase.value.chars().count();
            content.push_str(phrase.before);
            content.push_str(&phrase.value);
            content.push_str(phrase.after);
            tokens +=
                whitespace_tokens(phrase.before) + whitespace_tokens(&phrase.value) + whitespace_tokens(phrase.after);
            planted.push(Planted::Pii {
                entity: phrase.entity,
                value: phrase.value.clone(),
                start,
                end,
                placeholder: phrase.placeholder,
            });
        }
    }
    let body_target = target.saturating_sub(tokens).max(1);
    tokens += write_body(rng, language, body_target, request.role, &mut content);
    if let Some(phrase) = &pii {
        if phrase.at_end || request.uniqueness.is_some() {
            content.push(' ');
            let start = content.chars().count() + phrase.before.chars().count();
            let end = start + phrase.value.chars().count();
            content.push_str(phrase.before);
            content.push_str(&phrase.value);
            content.push_str(phrase.after);
            tokens +=
                whitespace_tokens(phrase.before) + whitespace_tokens(&phrase.value) + whitespace_tokens(phrase.after);
            planted.push(Planted::Pii {
                entity: phrase.entity,
                value: phrase.value.clone(),
                start,
                end,
                placeholder: phrase.placeholder,
            });
        }
    }
    if request.toxic {
        let phrase = TOXIC_PHRASES[rng.random_range(0..TOXIC_PHRASES.len())];
        // Appended last, so the offsets recorded above stay valid.
        content.push(' ');
        content.push_str(phrase);
        content.push('!');
        tokens += whitespace_tokens(phrase);
        planted.push(Planted::Toxic { phrase });
    }
    ComposedMessage {
        content,
        tokens,
        planted,
    }
}

#[cfg(test)]
mod tests {
    use super::super::languages::LANGUAGES;
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn luhn_digits_validate() {
        // 4539 1488 0343 6467 is a textbook Luhn-valid Visa test number.
        let number = [4, 5, 3, 9, 1, 4, 8, 8, 0, 3, 4, 3, 6, 4, 6];
        assert_eq!(luhn_check_digit(&number), 7);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let card: Vec<u32> = draw_credit_card(&mut rng)
                .chars()
                .filter_map(|character| character.to_digit(10))
                .collect();
            let sum: u32 = card
                .iter()
                .rev()
                .enumerate()
                .map(|(position, &digit)| {
                    if position % 2 == 1 {
                        let doubled = digit * 2;
                        if doubled > 9 {
                            doubled - 9
                        } else {
                            doubled
                        }
                    } else {
                        digit
                    }
                })
                .sum();
            assert_eq!(sum % 10, 0);
        }
    }

    #[test]
    fn uniqueness_blocks_differ_for_neighbouring_codes() {
        for language in LANGUAGES {
            let mut seen = HashSet::new();
            for code in 0..2_000u64 {
                let mut block = String::new();
                write_uniqueness_block(language, code, 12345, &mut block);
                assert!(seen.insert(block), "{}", language.name);
            }
        }
    }

    #[test]
    fn planted_offsets_point_at_the_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut planted_seen = 0;
        for round in 0..4_000 {
            let language = &LANGUAGES[round % LANGUAGES.len()];
            let request = MessageRequest {
                language,
                role: if round % 3 == 0 { Role::Assistant } else { Role::User },
                may_be_empty: false,
                toxic: round % 7 == 0,
                uniqueness: (round % 3 == 0).then_some((round as u64, 77)),
            };
            let message = compose_message(&mut rng, &request);
            for item in &message.planted {
                planted_seen += 1;
                match item {
                    Planted::Pii { value, start, end, .. } => {
                        let slice: String = message.content.chars().skip(*start).take(end - start).collect();
                        assert_eq!(&slice, value);
                    }
                    Planted::Toxic { phrase } => assert!(message.content.contains(phrase)),
                }
            }
        }
        assert!(planted_seen > 100);
    }
}
