//! Rule-based PII detection in the style of Presidio's pattern recognizers.
//!
//! All candidate patterns live in one [`regex::RegexSet`]: a text is scanned once to learn which recognizers can
//! fire at all, and only those re-run their own pattern to get positions. Candidates are then validated
//! (checksums, `std::net` parsing, the `phonenumber` metadata), scored, boosted by nearby context words (one more
//! scan, only when something was found), and resolved so that each character belongs to at most one span.
//! Offsets in [`Span`] are Unicode code points, end-exclusive.

pub mod checks;
pub mod policy;
pub mod secrets;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::OnceLock;

use regex::{Regex, RegexSet};

macro_rules! entity_types {
    ($($v:ident => $s:literal),* $(,)?) => {
        /// The 27 Presidio entity types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum EntityType { $($v),* }

        impl EntityType {
            /// All types, in declaration order.
            pub const ALL: &'static [EntityType] = &[$(EntityType::$v),*];

            /// The Presidio name, e.g. `PHONE_NUMBER`.
            pub fn as_str(self) -> &'static str {
                match self { $(EntityType::$v => $s),* }
            }
        }

        impl FromStr for EntityType {
            type Err = UnknownEntity;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($s => Ok(EntityType::$v),)* _ => Err(UnknownEntity(s.to_string())) }
            }
        }
    };
}

entity_types! {
    PHONE_NUMBER => "PHONE_NUMBER",
    CREDIT_CARD => "CREDIT_CARD",
    CRYPTO => "CRYPTO",
    EMAIL_ADDRESS => "EMAIL_ADDRESS",
    IBAN_CODE => "IBAN_CODE",
    IP_ADDRESS => "IP_ADDRESS",
    PERSON => "PERSON",
    MEDICAL_LICENSE => "MEDICAL_LICENSE",
    US_BANK_NUMBER => "US_BANK_NUMBER",
    US_DRIVER_LICENSE => "US_DRIVER_LICENSE",
    US_PASSPORT => "US_PASSPORT",
    US_SSN => "US_SSN",
    US_ITIN => "US_ITIN",
    UK_NHS => "UK_NHS",
    ES_NIF => "ES_NIF",
    IT_FISCAL_CODE => "IT_FISCAL_CODE",
    IT_DRIVER_LICENSE => "IT_DRIVER_LICENSE",
    IT_VAT_CODE => "IT_VAT_CODE",
    IT_PASSPORT => "IT_PASSPORT",
    IT_IDENTITY_CARD => "IT_IDENTITY_CARD",
    SG_NRIC_FIN => "SG_NRIC_FIN",
    AU_TFN => "AU_TFN",
    AU_MEDICARE => "AU_MEDICARE",
    NRP => "NRP",
    LOCATION => "LOCATION",
    DATE_TIME => "DATE_TIME",
    URL => "URL",
}

use EntityType as E;

impl EntityType {
    /// The types that have a recognizer in this crate.
    pub const IMPLEMENTED: &'static [EntityType] = &[
        E::PHONE_NUMBER,
        E::CREDIT_CARD,
        E::CRYPTO,
        E::EMAIL_ADDRESS,
        E::IBAN_CODE,
        E::IP_ADDRESS,
        E::US_SSN,
        E::US_ITIN,
        E::UK_NHS,
        E::ES_NIF,
        E::SG_NRIC_FIN,
        E::AU_TFN,
        E::AU_MEDICARE,
        E::DATE_TIME,
        E::URL,
    ];

    /// Whether [`detect`] can return this type.
    pub fn is_implemented(self) -> bool {
        Self::IMPLEMENTED.contains(&self)
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entity name that is not one of the 27 types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEntity(pub String);

impl fmt::Display for UnknownEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown entity type {:?}", self.0)
    }
}

impl std::error::Error for UnknownEntity {}

/// A detected entity. `start`/`end` are Unicode code-point offsets into the text, end-exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub entity: EntityType,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// Spans scoring below this are dropped.
pub const MIN_SCORE: f32 = 0.3;
/// Score added when a context word for the type is near the candidate.
const CONTEXT_BOOST: f32 = 0.35;
/// How far (in code points) on either side of a candidate context words count.
const CONTEXT_WINDOW: usize = 50;

/// Which validator a pattern feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rec {
    Email,
    Url,
    Ipv4,
    Ipv6,
    Card,
    Iban,
    SsnItin,
    Phone,
    Base58,
    Bech32,
    Nhs,
    Tfn,
    Medicare,
    Nric,
    Nif,
    Date,
}

const TLDS: &str = "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|ly|xyz|online|site|shop|tech|us|uk|\
    de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|cz|ru|ua|cn|jp|kr|in|au|nz|ca|br|mx|ar|za|ie|pt|gr|tr|il|sg|hk|tw|eu";

fn patterns() -> Vec<(Rec, String)> {
    let phone = r"(?:\+\s?|\b|\()(?:\d{1,5}\)[ .\-]?\d{1,8}|\d{1,8})(?:(?:[ .\-]|\s?\(|\)[ .\-]?)\d{1,8}){0,6}(?:\s?(?:x|ext\.?|extension|#)\s?\d{1,6}\b)?";
    let months = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|\
                  august|september|october|november|december";
    let date = format!(
        r"(?i)\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?|\d{{4}}/\d{{1,2}}/\d{{1,2}}|\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})(?:,?\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s*[ap]\.?m\.?)?)?|(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?(?:{months})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?\s+\d{{4}}|(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}:\d{{2}}(?::\d{{2}})?\s*[ap]\.?m\.?|(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d)\b"
    );
    vec![
        (
            Rec::Email,
            r"(?i)[a-z0-9][a-z0-9._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b".into(),
        ),
        (
            Rec::Url,
            format!(
                r#"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>"'`{{}}|\\^\[\]]+|\b(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{TLDS})\b(?:/[^\s<>"'`]*)?"#
            ),
        ),
        (Rec::Ipv4, r"\b\d{1,3}(?:\.\d{1,3}){3}\b".into()),
        (
            Rec::Ipv6,
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?(?:%[0-9a-z]+)?".into(),
        ),
        (
            Rec::Card,
            r"\b(?:\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{1,4}(?:[ \-]\d{3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{13,19})\b"
                .into(),
        ),
        (Rec::Iban, r"(?i)\b[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]{1,4}){3,9}\b".into()),
        (
            Rec::SsnItin,
            r"\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{3}\.\d{2}\.\d{4}|\d{9})\b".into(),
        ),
        (Rec::Phone, phone.into()),
        (Rec::Base58, r"\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b".into()),
        (Rec::Bech32, r"(?i)\bbc1[ac-hj-np-z02-9]{8,87}\b".into()),
        (Rec::Nhs, r"\b\d{3}[ \-]?\d{3}[ \-]?\d{4}\b".into()),
        (Rec::Tfn, r"\b\d{3}[ \-]?\d{3}[ \-]?\d{3}\b".into()),
        (Rec::Medicare, r"\b[2-6]\d{3}[ \-]?\d{5}[ \-]?\d(?:[ \-/]?\d)?\b".into()),
        (Rec::Nric, r"(?i)\b[stfg]\d{7}[a-z]\b".into()),
        (Rec::Nif, r"(?i)\b\d{8}-?[a-z]\b".into()),
        (Rec::Date, date),
    ]
}

/// Context words by type (matched case-insensitively, whole words for Latin script).
fn context_words() -> Vec<(EntityType, &'static [&'static str])> {
    vec![
        (
            E::PHONE_NUMBER,
            &[
                "phone",
                "telephone",
                "tel",
                "call",
                "calling",
                "mobile",
                "cell",
                "cellphone",
                "whatsapp",
                "wechat",
                "fax",
                "contact",
                "desk",
                "office",
                "dial",
                "landline",
                "sms",
                "text me",
                "ring",
                "reach",
                "ph",
                "mob",
                "电话",
                "手机",
                "联系",
                "号码",
            ],
        ),
        (
            E::CREDIT_CARD,
            &[
                "card",
                "credit",
                "debit",
                "visa",
                "mastercard",
                "amex",
                "payment",
                "cc",
                "cvv",
                "卡号",
                "信用卡",
            ],
        ),
        (
            E::IBAN_CODE,
            &["iban", "bank", "account", "transfer", "swift", "bic", "账户"],
        ),
        (
            E::US_SSN,
            &[
                "ssn",
                "social security",
                "social",
                "ssns",
                "security number",
                "社会安全号",
            ],
        ),
        (E::US_ITIN, &["itin", "taxpayer", "tax id", "tax"]),
        (E::UK_NHS, &["nhs", "national health", "health service", "patient"]),
        (E::AU_TFN, &["tfn", "tax file", "tax file number"]),
        (E::AU_MEDICARE, &["medicare"]),
        (E::SG_NRIC_FIN, &["nric", "fin", "ic", "identity card"]),
        (E::ES_NIF, &["nif", "dni", "documento"]),
        (
            E::IP_ADDRESS,
            &["ip", "ipv4", "ipv6", "server", "host", "address", "addr"],
        ),
        (E::EMAIL_ADDRESS, &["email", "e-mail", "mail", "邮箱"]),
        (E::CRYPTO, &["bitcoin", "btc", "wallet", "crypto"]),
        (E::URL, &["url", "website", "site", "link", "http"]),
        (
            E::DATE_TIME,
            &["date", "born", "birthday", "dob", "when", "time", "出生"],
        ),
    ]
}

/// Compiled recognizers. Build once (it compiles a few large regexes) and share: it is `Send + Sync`.
pub struct Detector {
    set: RegexSet,
    recs: Vec<(Rec, Regex)>,
    context: Regex,
    context_types: Vec<EntityType>,
    phone_regions: Vec<phonenumber::country::Id>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

/// A candidate in byte offsets.
#[derive(Debug, Clone, Copy)]
struct Cand {
    entity: EntityType,
    start: usize,
    end: usize,
    score: f32,
    /// Score when a context word for the type is nearby.
    ctx_score: f32,
}

impl Detector {
    pub fn new() -> Self {
        let pats = patterns();
        let set = RegexSet::new(pats.iter().map(|(_, p)| p.as_str())).expect("pii patterns compile");
        let recs = pats
            .into_iter()
            .map(|(r, p)| (r, Regex::new(&p).expect("pii pattern compiles")))
            .collect();
        let mut alts = Vec::new();
        let mut context_types = Vec::new();
        for (ty, words) in context_words() {
            let latin: Vec<String> = words
                .iter()
                .filter(|w| w.is_ascii())
                .map(|w| regex::escape(w))
                .collect();
            let other: Vec<String> = words
                .iter()
                .filter(|w| !w.is_ascii())
                .map(|w| regex::escape(w))
                .collect();
            let mut alt = format!(r"\b(?:{})s?\b", latin.join("|"));
            if !other.is_empty() {
                alt = format!("{alt}|{}", other.join("|"));
            }
            alts.push(format!("({alt})"));
            context_types.push(ty);
        }
        let context = Regex::new(&format!("(?i){}", alts.join("|"))).expect("context regex compiles");
        use phonenumber::country::Id;
        Detector {
            set,
            recs,
            context,
            context_types,
            phone_regions: vec![
                Id::US,
                Id::GB,
                Id::DE,
                Id::FR,
                Id::IN,
                Id::AU,
                Id::CN,
                Id::ES,
                Id::IT,
                Id::NL,
            ],
        }
    }

    /// Detects PII in `text`; spans are sorted by start, non-overlapping, offsets in code points.
    pub fn detect(&self, text: &str) -> Vec<Span> {
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return Vec::new();
        }
        let mut cands = Vec::new();
        for idx in hits.iter() {
            let (rec, re) = &self.recs[idx];
            for m in re.find_iter(text) {
                self.validate(*rec, text, m.start(), m.end(), &mut cands);
            }
        }
        if cands.is_empty() {
            return Vec::new();
        }
        // code-point offsets of every byte position we need: candidates and context hits
        let ctx: Vec<(EntityType, usize, usize)> = self
            .context
            .captures_iter(text)
            .filter_map(|c| {
                let (i, m) = c.iter().enumerate().skip(1).find_map(|(i, m)| m.map(|m| (i, m)))?;
                Some((self.context_types[i - 1], m.start(), m.end()))
            })
            .collect();
        let mut offsets: Vec<usize> = Vec::with_capacity(cands.len() * 2 + ctx.len() * 2);
        for c in &cands {
            offsets.push(c.start);
            offsets.push(c.end);
        }
        for &(_, s, e) in &ctx {
            offsets.push(s);
            offsets.push(e);
        }
        let cp = CodePoints::new(text, offsets);
        let ctx: Vec<(EntityType, usize, usize)> = ctx.into_iter().map(|(t, s, e)| (t, cp.get(s), cp.get(e))).collect();
        let mut spans: Vec<Span> = cands
            .into_iter()
            .filter_map(|c| {
                let (start, end) = (cp.get(c.start), cp.get(c.end));
                let mut score = c.score;
                if c.ctx_score > c.score
                    && ctx.iter().any(|&(t, s, e)| {
                        t == c.entity
                            && e + CONTEXT_WINDOW >= start
                            && s <= end + CONTEXT_WINDOW
                            && (e <= start || s >= end)
                    })
                {
                    score = c.ctx_score;
                }
                (score >= MIN_SCORE).then_some(Span {
                    entity: c.entity,
                    start,
                    end,
                    score,
                })
            })
            .collect();
        resolve(&mut spans);
        spans
    }

    fn validate(&self, rec: Rec, text: &str, start: usize, end: usize, out: &mut Vec<Cand>) {
        let s = &text[start..end];
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let after2 = text[end..].chars().nth(1);
        let mut push = |entity, start, end, score: f32, boostable: bool| {
            let ctx_score = if boostable {
                (score + CONTEXT_BOOST).min(1.0)
            } else {
                score
            };
            out.push(Cand {
                entity,
                start,
                end,
                score,
                ctx_score,
            })
        };
        match rec {
            Rec::Email => {
                if before.is_some_and(|c| c.is_alphanumeric()) {
                    return;
                }
                push(E::EMAIL_ADDRESS, start, end, 0.9, true);
            }
            Rec::Url => {
                if matches!(before, Some('@' | '.')) || before.is_some_and(|c| c.is_alphanumeric()) {
                    return;
                }
                let trimmed = s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
                let has_scheme = trimmed.contains("://") || trimmed.to_ascii_lowercase().starts_with("www.");
                if has_scheme && trimmed.len() < 8 {
                    return;
                }
                push(
                    E::URL,
                    start,
                    start + trimmed.len(),
                    if has_scheme { 0.85 } else { 0.5 },
                    true,
                );
            }
            Rec::Ipv4 => {
                let inside_run = |c: Option<char>, next: Option<char>| match c {
                    Some('.') => next.is_some_and(|n| n.is_ascii_digit()),
                    Some(c) => c.is_ascii_digit(),
                    None => false,
                };
                let prev2 = text[..start].chars().rev().nth(1);
                if inside_run(before, prev2) || inside_run(after, after2) {
                    return;
                }
                if Ipv4Addr::from_str(s).is_ok() {
                    push(E::IP_ADDRESS, start, end, 0.95, true);
                }
            }
            Rec::Ipv6 => {
                let is_part = |c: char| c.is_ascii_hexdigit() || c == ':' || c.is_alphanumeric();
                if before.is_some_and(is_part) || after.is_some_and(is_part) {
                    return;
                }
                let addr = s.split('%').next().unwrap_or(s);
                let groups = addr.split(':').filter(|g| !g.is_empty()).count();
                if groups >= 2 && Ipv6Addr::from_str(addr).is_ok() {
                    push(E::IP_ADDRESS, start, end, 0.95, true);
                }
            }
            Rec::Card => {
                if adjacent_number(before, after, after2) {
                    return;
                }
                let d = checks::digits(s);
                if checks::luhn(&d) && checks::known_iin(&d) {
                    push(E::CREDIT_CARD, start, end, 1.0, false);
                }
            }
            Rec::Iban => {
                let upper: Vec<(usize, u8)> = s
                    .bytes()
                    .enumerate()
                    .filter(|(_, b)| b.is_ascii_alphanumeric())
                    .map(|(i, b)| (i, b.to_ascii_uppercase()))
                    .collect();
                let cc = std::str::from_utf8(&[upper[0].1, upper[1].1]).unwrap_or("").to_string();
                let Some(len) = checks::iban_length(&cc) else { return };
                if upper.len() < len {
                    return;
                }
                // the IBAN must end at a group boundary
                let last = upper[len - 1].0;
                if s.as_bytes().get(last + 1).is_some_and(u8::is_ascii_alphanumeric) {
                    return;
                }
                let compact: Vec<u8> = upper[..len].iter().map(|&(_, b)| b).collect();
                if checks::iban_mod97(&compact) {
                    push(E::IBAN_CODE, start, start + last + 1, 1.0, false);
                }
            }
            Rec::SsnItin => {
                if adjacent_number(before, after, after2) {
                    return;
                }
                let d = checks::digits(s);
                let bare = d.len() == s.len();
                let (entity, ok) = if d[0] == 9 {
                    (E::US_ITIN, checks::itin_valid(&d))
                } else {
                    (E::US_SSN, checks::ssn_valid(&d))
                };
                if !ok {
                    return;
                }
                let score = if bare {
                    // nine bare digits count only next to a context word
                    0.05
                } else if s.contains('-') {
                    0.6
                } else {
                    0.45
                };
                push(entity, start, end, score, true);
            }
            Rec::Phone => self.phone(text, start, end, before, after, out),
            Rec::Base58 => {
                if checks::base58check_btc(s) {
                    push(E::CRYPTO, start, end, 1.0, false);
                }
            }
            Rec::Bech32 => {
                if checks::bech32_btc(s) {
                    push(E::CRYPTO, start, end, 1.0, false);
                }
            }
            Rec::Nhs | Rec::Tfn | Rec::Medicare => {
                if adjacent_number(before, after, after2) {
                    return;
                }
                let d = checks::digits(s);
                let (entity, ok) = match rec {
                    Rec::Nhs => (E::UK_NHS, checks::nhs_valid(&d)),
                    Rec::Tfn => (E::AU_TFN, checks::tfn_valid(&d)),
                    _ => (E::AU_MEDICARE, checks::medicare_valid(&d)),
                };
                // weak checksums on phone-shaped digit groups: confident only next to a context word
                if ok {
                    let bare = d.len() == s.len();
                    out.push(Cand {
                        entity,
                        start,
                        end,
                        score: if bare { 0.05 } else { 0.4 },
                        ctx_score: 1.0,
                    });
                }
            }
            Rec::Nric => {
                if checks::nric_valid(s) {
                    push(E::SG_NRIC_FIN, start, end, 1.0, false);
                }
            }
            Rec::Nif => {
                if checks::es_nif_valid(s) {
                    push(E::ES_NIF, start, end, 1.0, false);
                }
            }
            Rec::Date => {
                if let Some(score) = date_score(s) {
                    push(E::DATE_TIME, start, end, score, true);
                }
            }
        }
    }

    fn phone(
        &self,
        text: &str,
        start: usize,
        end: usize,
        before: Option<char>,
        after: Option<char>,
        out: &mut Vec<Cand>,
    ) {
        let s = &text[start..end];
        // trim a trailing separator the permissive pattern may have picked up
        let s = s.trim_end_matches([' ', '.', '-', '(']);
        let end = start + s.len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '/' || c == ':' || c == '-')
            || after.is_some_and(|c| c.is_alphanumeric() || c == '/' || c == ':')
        {
            return;
        }
        if after == Some('.') && text[end..].chars().nth(1).is_some_and(|c| c.is_ascii_digit()) {
            return;
        }
        let (main, ext) = split_extension(s);
        let groups: Vec<&str> = main
            .split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .collect();
        let ndigits: usize = groups.iter().map(|g| g.len()).sum();
        if !(7..=15).contains(&ndigits) {
            return;
        }
        let plus = main.starts_with('+');
        let paren = main.contains('(');
        let structured = groups.len() >= 2 || plus;
        if !structured {
            // a bare digit run: only with the library's blessing (and a context word to be kept)
            if self.library_valid(main) {
                out.push(Cand {
                    entity: E::PHONE_NUMBER,
                    start,
                    end,
                    score: 0.05,
                    ctx_score: 0.7,
                });
            }
            return;
        }
        // shape checks: at most one group of a single digit (country or trunk code) and last group of 2+
        let singles = groups.iter().filter(|g| g.len() == 1).count();
        if singles > 1 || groups.last().is_some_and(|g| g.len() < 2) || groups.len() > 7 {
            return;
        }
        let seps: Vec<char> = main
            .trim_start_matches('+')
            .chars()
            .filter(|c| !c.is_ascii_digit() && *c != '(' && *c != ')')
            .collect();
        let dotted = seps.contains(&'.');
        // thousands-grouped numbers like 12 345 678 (space or dot), and dotted quads
        let thousands = !plus
            && !paren
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3)
            && seps.iter().all(|&c| c == ' ' || c == '.' || c == ',');
        // dotted numbers are phones only in even groups (986.291.2294), not versions or IP-like quads
        let dotted_odd = dotted
            && (groups.iter().any(|g| g.len() < 2 || g.len() > 4)
                || groups.len() == 4 && groups.iter().all(|g| g.len() <= 3));
        if thousands || dotted_odd {
            return;
        }
        let mixed_seps = {
            let mut k: Vec<char> = seps.iter().copied().filter(|&c| c != ' ').collect();
            k.dedup();
            k.len() > 1
        };
        if mixed_seps {
            return;
        }
        let score = if self.library_valid(main) { 0.75 } else { 0.45 };
        let _ = ext;
        out.push(Cand {
            entity: E::PHONE_NUMBER,
            start,
            end,
            score,
            ctx_score: (score + CONTEXT_BOOST).min(1.0),
        });
    }

    /// Whether the phone library accepts the number as valid in its own country (with `+`) or in one of the
    /// default regions.
    fn library_valid(&self, number: &str) -> bool {
        if number.trim_start().starts_with('+') {
            return phonenumber::parse(None, number).is_ok_and(|n| phonenumber::is_valid(&n));
        }
        self.phone_regions
            .iter()
            .any(|&r| phonenumber::parse(Some(r), number).is_ok_and(|n| phonenumber::is_valid(&n)))
    }
}

/// Whether the match touches another number (`12 4532...`, `4532...-7`), which makes it part of something longer.
fn adjacent_number(before: Option<char>, after: Option<char>, after2: Option<char>) -> bool {
    before.is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '/')
        || after.is_some_and(|c| c.is_ascii_digit())
        || (matches!(after, Some('.' | '-' | '/')) && after2.is_some_and(|c| c.is_ascii_digit()))
}

/// Splits `555-1234 x12` into the number and the extension digits.
fn split_extension(s: &str) -> (&str, &str) {
    let lower = s.to_ascii_lowercase();
    for marker in ["extension", "ext.", "ext", "x", "#"] {
        if let Some(i) = lower.rfind(marker) {
            if lower[i + marker.len()..].trim().chars().all(|c| c.is_ascii_digit()) {
                return (s[..i].trim_end(), s[i + marker.len()..].trim());
            }
        }
    }
    (s, "")
}

/// Validates a date/time match and scores it by how specific its shape is.
fn date_score(s: &str) -> Option<f32> {
    let lower = s.to_ascii_lowercase();
    let nums: Vec<u32> = lower
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|g| g.parse().ok())
        .collect();
    let first_alpha = lower.chars().any(|c| c.is_ascii_alphabetic());
    let bytes = s.as_bytes();
    if bytes.len() >= 8 && bytes[..4].iter().all(u8::is_ascii_digit) && matches!(bytes[4], b'-' | b'/') {
        // ISO-ish y-m-d
        let ok = nums.len() >= 3 && (1..=12).contains(&nums[1]) && (1..=31).contains(&nums[2]);
        return ok.then_some(if s.len() > 10 { 0.85 } else { 0.7 });
    }
    if s.contains(':') && !s.contains('/') && !s.contains('-') && !first_alpha {
        // h:m:s
        return (nums.len() >= 2 && nums[0] < 24 && nums[1] < 60).then_some(0.45);
    }
    if !first_alpha || lower.ends_with('m') && s.contains(':') && (s.contains('/') || s.contains('-')) {
        if nums.len() < 3 || !checks::plausible_date(nums[0], nums[1]) {
            return None;
        }
        let dotted = s.contains('.');
        let year_digits = s
            .split(['/', '.', '-'])
            .nth(2)
            .map_or(0, |y| y.chars().take_while(char::is_ascii_digit).count());
        if dotted && year_digits != 4 {
            return None;
        }
        return Some(if year_digits == 4 { 0.6 } else { 0.45 });
    }
    if lower.contains(':') {
        // time with am/pm
        return (nums.first().is_some_and(|&h| (1..=12).contains(&h))).then_some(0.5);
    }
    // month names
    let has_year = nums.iter().any(|&n| (1000..=2999).contains(&n));
    let day_ok = nums.iter().filter(|&&n| n < 1000).all(|&n| (1..=31).contains(&n));
    if !day_ok {
        return None;
    }
    Some(if has_year { 0.6 } else { 0.4 })
}

/// Keeps the best span for each character range: higher score first, then the longer span.
fn resolve(spans: &mut Vec<Span>) {
    spans.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans.drain(..) {
        if s.end > s.start && !kept.iter().any(|k| k.start < s.end && s.start < k.end) {
            kept.push(s);
        }
    }
    kept.sort_by_key(|s| (s.start, s.end));
    *spans = kept;
}

/// Byte-offset to code-point-offset conversion for a set of offsets, in one pass over the text.
struct CodePoints {
    map: Vec<(usize, usize)>,
}

impl CodePoints {
    fn new(text: &str, mut offsets: Vec<usize>) -> Self {
        offsets.sort_unstable();
        offsets.dedup();
        let mut map = Vec::with_capacity(offsets.len());
        let mut chars = 0usize;
        let mut pos = 0usize;
        for off in offsets {
            chars += text[pos..off].chars().count();
            pos = off;
            map.push((off, chars));
        }
        CodePoints { map }
    }

    fn get(&self, byte: usize) -> usize {
        match self.map.binary_search_by_key(&byte, |&(b, _)| b) {
            Ok(i) => self.map[i].1,
            Err(_) => unreachable!("offset {byte} was registered"),
        }
    }
}

/// The shared default detector.
pub fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(Detector::new)
}

/// Detects PII in `text` with the shared default [`Detector`].
pub fn detect(text: &str) -> Vec<Span> {
    detector().detect(text)
}

#[cfg(test)]
mod tests;
