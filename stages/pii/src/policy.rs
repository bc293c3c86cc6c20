//! Redaction policies: the reference policy (WildChat's release rules) and the strict policy.
//!
//! A policy turns one turn's detections into redacted text. The reference policy restates
//! `reference-pii-policy.md` condition by condition (offsets, windows and lengths in code points, string tests
//! case-insensitive through Unicode lower-casing as Python's `str.lower` does); the strict policy redacts every
//! detection of the configured types. Both replace credentials from [`credentials`] everywhere, in every language.
//! Stateless per turn: the run-wide document frequencies come in through a callback.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::{EntityType, Span};
use credentials::{Secret, SecretKind};

/// Languages whose turns the reference analysed (release labels).
pub const REFERENCE_LANGUAGES: [&str; 10] = [
    "English",
    "Chinese",
    "Russian",
    "French",
    "Spanish",
    "German",
    "Portuguese",
    "Italian",
    "Japanese",
    "Korean",
];

/// The types the reference counts for document frequency, which are also the only types it ever redacts.
const REFERENCE_COUNTED_TYPES: [EntityType; 5] = [
    EntityType::PERSON,
    EntityType::PHONE_NUMBER,
    EntityType::EMAIL_ADDRESS,
    EntityType::CREDIT_CARD,
    EntityType::URL,
];

/// A PERSON string is redacted only while it occurs in fewer conversations than this.
const PERSON_FREQUENCY_LIMIT: u64 = 50;
/// The limit for the other four redacted types.
const OTHER_FREQUENCY_LIMIT: u64 = 10;

/// How many code points before a span `before20` holds.
const BEFORE_WINDOW: usize = 20;
/// How many code points on each side of a span `around50` reaches.
const AROUND_WINDOW: usize = 50;

const PHONE_CUES: [&str; 9] = [
    " m:", "\nm:", "tel.", "tel:", "tel ", "whatsapp", "wechat", "电话", "手机",
];
/// `phone` counts as a cue unless one of these JSON-style labels is in `before20` and the message has `{` and `}`.
const PHONE_JSON_LABELS: [&str; 4] = ["phone\":", "phone':", "number\":", "number':"];
const PHONE_IP_FRAGMENTS: [&str; 3] = ["192.168.", "127.0.", "255.255."];

/// Placeholder and role addresses the reference never redacts (27 fragments, matched anywhere in the address).
pub const EMAIL_EXCLUSIONS: [&str; 27] = [
    "@example.com",
    "@domain.com",
    "@email.com",
    "@companyname.com",
    "@login.com",
    "@x.com",
    "@xx.com",
    "@xxx.com",
    "@xxxx.com",
    "@xxxxx.com",
    "webmaster@",
    "login@",
    "abcdefg@",
    "info@",
    "feedback@",
    "partners@",
    "events@",
    "orders@",
    "shipping@",
    "quality@",
    "reservations@",
    "inquiries@",
    "complaints@",
    "contact@",
    "computer@",
    "test@",
    "email@",
];

/// `before20` must end with one of these for a PERSON to be redacted ...
pub const PERSON_INTRODUCTION_CUES: [&str; 4] = ["my name is ", "i am ", "i'm ", "this is "];
/// ... or contain one of these anywhere. Spaces and commas are part of the cues.
pub const PERSON_SIGN_OFF_CUES: [&str; 15] = [
    "best,",
    "best regard",
    "best wish",
    "sincerely,",
    "regards",
    "thanks,",
    "thanks ",
    "yours ",
    "yours,",
    "faithfully,",
    "cheers,",
    "take care,",
    "dear ",
    "hello ",
    "hi ",
];

/// How a strict policy rewrites a detected span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `<PRESIDIO_ANONYMIZED_{ENTITY}>`, as the reference does.
    Replace,
    /// One `*` per code point of the span.
    Mask,
    /// `<{ENTITY}:{h}>` where `h` is the first 16 hex digits (64 bits) of `sha256(hash_salt || span text as UTF-8)`,
    /// lower case; the span text is hashed exactly as it appears (not stripped or lower-cased). Equal strings get
    /// equal placeholders within a release, so researchers can still link mentions without learning them.
    Hash,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Replace => "replace",
            Operator::Mask => "mask",
            Operator::Hash => "hash",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A redaction operator name that is not `replace`, `mask` or `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOperator(pub String);

impl fmt::Display for UnknownOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown redaction operator {:?} (expected replace, mask or hash)",
            self.0
        )
    }
}

impl std::error::Error for UnknownOperator {}

impl FromStr for Operator {
    type Err = UnknownOperator;

    /// Exactly `replace`, `mask` or `hash` (lower case, as in the config file).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "replace" => Ok(Operator::Replace),
            "mask" => Ok(Operator::Mask),
            "hash" => Ok(Operator::Hash),
            _ => Err(UnknownOperator(s.to_string())),
        }
    }
}

/// Which spans of a turn are redacted, and how.
#[derive(Clone)]
pub enum Policy {
    /// The WildChat release rules (`reference-pii-policy.md`).
    Reference,
    /// Every detected span of `types` (all 27 when empty), no frequency or context conditions.
    Strict {
        types: Vec<EntityType>,
        operator: Operator,
        hash_salt: Vec<u8>,
    },
}

/// Never prints the salt: policies end up in logs and run summaries.
impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Reference => f.write_str("Reference"),
            Policy::Strict {
                types,
                operator,
                hash_salt,
            } => f
                .debug_struct("Strict")
                .field("types", types)
                .field("operator", operator)
                .field(
                    "hash_salt",
                    &if hash_salt.is_empty() { "<empty>" } else { "<redacted>" },
                )
                .finish(),
        }
    }
}

/// One turn as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct TurnText<'a> {
    pub text: &'a str,
    /// The turn's release language label, e.g. `English` or `Nolang`.
    pub language: &'a str,
}

/// What was replaced in a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacedLabel {
    Entity(EntityType),
    Secret(SecretKind),
}

/// One replaced range, in code points of the original (unredacted) text, end-exclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct Replaced {
    pub label: ReplacedLabel,
    pub start: usize,
    pub end: usize,
}

/// A redacted turn. `replaced` is sorted by start and non-overlapping; `redacted` is true iff it is non-empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Redaction {
    pub text: String,
    pub redacted: bool,
    pub replaced: Vec<Replaced>,
}

impl Policy {
    pub fn reference() -> Policy {
        Policy::Reference
    }

    /// A strict policy over `types` (all 27 when empty; duplicates dropped).
    pub fn strict(types: Vec<EntityType>, operator: Operator, hash_salt: Vec<u8>) -> Policy {
        let mut types = if types.is_empty() {
            EntityType::ALL.to_vec()
        } else {
            types
        };
        types.sort_unstable();
        types.dedup();
        Policy::Strict {
            types,
            operator,
            hash_salt,
        }
    }

    /// Whether a turn with this language label is analysed at all. Reference: only the ten
    /// [`REFERENCE_LANGUAGES`], compared exactly (labels are produced in Title case). Strict: every label,
    /// `Nolang` included, since a strict release promises that nothing detected is left in.
    pub fn analyses_language(&self, label: &str) -> bool {
        match self {
            Policy::Reference => REFERENCE_LANGUAGES.contains(&label),
            Policy::Strict { .. } => true,
        }
    }

    /// Types whose detections are counted for document frequency (reference: PERSON, PHONE_NUMBER, EMAIL_ADDRESS,
    /// CREDIT_CARD, URL; strict: none).
    pub fn counted_types(&self) -> &[EntityType] {
        match self {
            Policy::Reference => &REFERENCE_COUNTED_TYPES,
            Policy::Strict { .. } => &[],
        }
    }

    /// A string of this type is redacted only while its document frequency is below this (reference: 50 for
    /// PERSON, 10 for the other four counted types; strict: `None`, no limit).
    pub fn frequency_limit(&self, entity: EntityType) -> Option<u64> {
        match self {
            Policy::Reference => reference_frequency_limit(entity),
            Policy::Strict { .. } => None,
        }
    }

    /// The doc-freq keys one turn contributes: `(type, doc_freq_key(span text))` for every span of a counted type,
    /// in span order, duplicates kept (the caller dedups per conversation). Spans whose offsets do not fit the
    /// text are skipped.
    pub fn counted_keys(&self, text: &str, spans: &[Span]) -> Vec<(EntityType, String)> {
        let counted = self.counted_types();
        if counted.is_empty() || spans.is_empty() {
            return Vec::new();
        }
        let code_points = CodePoints::new(text);
        spans
            .iter()
            .filter(|span| counted.contains(&span.entity) && code_points.is_valid(span.start, span.end))
            .map(|span| (span.entity, doc_freq_key(code_points.slice(span.start, span.end))))
            .collect()
    }

    /// Redacts one turn.
    ///
    /// `spans` come from [`crate::detect`]; spans of a turn whose language this policy does not analyse are
    /// ignored here as well, so a caller that forgot to filter cannot redact more than the policy allows.
    /// `secrets` come from [`credentials::scan`] and are replaced in every language by
    /// `<SECRET_REDACTED_{KIND}>`; an entity span that overlaps a secret is dropped. `doc_freq(entity, key)` is
    /// the run-wide number of conversations in which `key` (see [`doc_freq_key`]) was detected as `entity`; the
    /// strict policy never calls it. Spans with offsets outside the text or `start >= end` are skipped; of
    /// overlapping entity spans the earlier (then the longer) one wins.
    pub fn redact(
        &self,
        turn: TurnText<'_>,
        spans: &[Span],
        secrets: &[Secret],
        doc_freq: &dyn Fn(EntityType, &str) -> u64,
    ) -> Redaction {
        let text = turn.text;
        let analysed = self.analyses_language(turn.language);
        if secrets.is_empty() && (spans.is_empty() || !analysed) {
            return Redaction {
                text: text.to_string(),
                redacted: false,
                replaced: Vec::new(),
            };
        }
        let code_points = CodePoints::new(text);

        let mut secret_ranges: Vec<Replaced> = secrets
            .iter()
            .filter(|secret| code_points.is_valid(secret.start, secret.end))
            .map(|secret| Replaced {
                label: ReplacedLabel::Secret(secret.kind),
                start: secret.start,
                end: secret.end,
            })
            .collect();
        secret_ranges.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let secret_ranges = drop_overlapping(secret_ranges);

        let mut entity_ranges: Vec<Replaced> = Vec::new();
        if analysed {
            let whole_message_has_braces = text.contains('{') && text.contains('}');
            for span in spans {
                if !code_points.is_valid(span.start, span.end) {
                    continue;
                }
                let selected = match self {
                    Policy::Reference => {
                        let context = SpanContext::new(&code_points, span, whole_message_has_braces);
                        reference_redacts(&context, turn.language, span.entity, doc_freq)
                    }
                    Policy::Strict { types, .. } => types.is_empty() || types.contains(&span.entity),
                };
                if selected {
                    entity_ranges.push(Replaced {
                        label: ReplacedLabel::Entity(span.entity),
                        start: span.start,
                        end: span.end,
                    });
                }
            }
        }
        entity_ranges.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let entity_ranges = drop_overlapping(entity_ranges);
        let entity_ranges = entity_ranges
            .into_iter()
            .filter(|r| !overlaps_any(&secret_ranges, r.start, r.end));

        let mut replaced: Vec<Replaced> = secret_ranges.iter().cloned().chain(entity_ranges).collect();
        replaced.sort_by_key(|r| r.start);

        let mut out = String::with_capacity(text.len() + replaced.len() * 32);
        let mut copied_to = 0usize;
        for range in &replaced {
            out.push_str(code_points.slice(copied_to, range.start));
            let original = code_points.slice(range.start, range.end);
            self.write_replacement(&mut out, range.label, original, range.end - range.start);
            copied_to = range.end;
        }
        out.push_str(code_points.slice(copied_to, code_points.len()));
        Redaction {
            text: out,
            redacted: !replaced.is_empty(),
            replaced,
        }
    }

    fn write_replacement(&self, out: &mut String, label: ReplacedLabel, original: &str, code_point_len: usize) {
        let entity = match label {
            ReplacedLabel::Secret(kind) => {
                out.push_str("<SECRET_REDACTED_");
                out.push_str(kind.as_str());
                out.push('>');
                return;
            }
            ReplacedLabel::Entity(entity) => entity,
        };
        match self {
            Policy::Reference
            | Policy::Strict {
                operator: Operator::Replace,
                ..
            } => {
                out.push_str("<PRESIDIO_ANONYMIZED_");
                out.push_str(entity.as_str());
                out.push('>');
            }
            Policy::Strict {
                operator: Operator::Mask,
                ..
            } => {
                out.extend(std::iter::repeat_n('*', code_point_len));
            }
            Policy::Strict {
                operator: Operator::Hash,
                hash_salt,
                ..
            } => {
                let digest = Sha256::new()
                    .chain_update(hash_salt)
                    .chain_update(original.as_bytes())
                    .finalize();
                out.push('<');
                out.push_str(entity.as_str());
                out.push(':');
                for byte in &digest[..8] {
                    out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
                    out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
                }
                out.push('>');
            }
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `s.strip().lower()` exactly as Python 3 computes it: Python's `str.strip` whitespace set (which, unlike
/// Unicode `White_Space`, includes `\x1c`..`\x1f`) and full Unicode lower-casing with the final-sigma rule (both
/// Python and Rust implement it; results can differ only where their Unicode versions differ).
pub fn doc_freq_key(span_text: &str) -> String {
    py_strip(span_text).to_lowercase()
}

/// Characters for which Python 3's `str.isspace()` is true.
fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

fn reference_frequency_limit(entity: EntityType) -> Option<u64> {
    match entity {
        EntityType::PERSON => Some(PERSON_FREQUENCY_LIMIT),
        EntityType::PHONE_NUMBER | EntityType::EMAIL_ADDRESS | EntityType::CREDIT_CARD | EntityType::URL => {
            Some(OTHER_FREQUENCY_LIMIT)
        }
        _ => None,
    }
}

/// Keeps the first of overlapping ranges; `ranges` must be sorted by start.
fn drop_overlapping(ranges: Vec<Replaced>) -> Vec<Replaced> {
    let mut kept: Vec<Replaced> = Vec::with_capacity(ranges.len());
    for range in ranges {
        if kept.last().is_none_or(|last| range.start >= last.end) {
            kept.push(range);
        }
    }
    kept
}

/// Whether `start..end` overlaps any of `ranges` (sorted by start, non-overlapping, hence also sorted by end).
fn overlaps_any(ranges: &[Replaced], start: usize, end: usize) -> bool {
    let first_ending_after_start = ranges.partition_point(|r| r.end <= start);
    ranges.get(first_ending_after_start).is_some_and(|r| r.start < end)
}

/// Code-point indexing into a text: byte offset of every code point, or identity for ASCII text.
struct CodePoints<'a> {
    text: &'a str,
    /// For non-ASCII text: the byte offset of every `CHECKPOINT`-th code point (a 10 MB turn needs a few hundred
    /// kB of them, not an entry per character), and the number of code points. `None` for ASCII.
    checkpoints: Option<(Vec<usize>, usize)>,
}

/// Code points between two stored byte offsets.
const CHECKPOINT: usize = 64;

impl<'a> CodePoints<'a> {
    fn new(text: &'a str) -> Self {
        let checkpoints = (!text.is_ascii()).then(|| {
            let mut offsets = Vec::with_capacity(text.len() / CHECKPOINT + 1);
            let mut count = 0usize;
            for (byte, _) in text.char_indices() {
                if count.is_multiple_of(CHECKPOINT) {
                    offsets.push(byte);
                }
                count += 1;
            }
            (offsets, count)
        });
        CodePoints { text, checkpoints }
    }

    fn len(&self) -> usize {
        match &self.checkpoints {
            Some((_, count)) => *count,
            None => self.text.len(),
        }
    }

    fn is_valid(&self, start: usize, end: usize) -> bool {
        start < end && end <= self.len()
    }

    /// Byte offset of code point `index`, clamped to the end of the text.
    fn byte(&self, index: usize) -> usize {
        match &self.checkpoints {
            Some((offsets, count)) => {
                if index >= *count {
                    return self.text.len();
                }
                let from = offsets[index / CHECKPOINT];
                self.text[from..]
                    .char_indices()
                    .nth(index % CHECKPOINT)
                    .map_or(self.text.len(), |(byte, _)| from + byte)
            }
            None => index.min(self.text.len()),
        }
    }

    /// Code points `start..end`, clamped to the text.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let (from, to) = (self.byte(start), self.byte(end));
        if from >= to {
            return "";
        }
        &self.text[from..to]
    }
}

/// The strings the reference rules test for one span.
struct SpanContext<'a> {
    /// The whole turn text (the "message").
    message: &'a str,
    /// The span text `s`.
    span: &'a str,
    span_len: usize,
    /// The 20 code points before the span, lower-cased.
    before20_lower: String,
    /// 50 code points before the span through 50 after it, lower-cased.
    around50_lower: String,
    /// The code point before the span, if any.
    prev: Option<char>,
    whole_message_has_braces: bool,
}

impl<'a> SpanContext<'a> {
    fn new(code_points: &CodePoints<'a>, span: &Span, whole_message_has_braces: bool) -> Self {
        let before_start = span.start.saturating_sub(BEFORE_WINDOW);
        let around_start = span.start.saturating_sub(AROUND_WINDOW);
        let around_end = span.end.saturating_add(AROUND_WINDOW);
        SpanContext {
            message: code_points.text,
            span: code_points.slice(span.start, span.end),
            span_len: span.end - span.start,
            before20_lower: code_points.slice(before_start, span.start).to_lowercase(),
            around50_lower: code_points.slice(around_start, around_end).to_lowercase(),
            prev: code_points
                .slice(span.start.saturating_sub(1), span.start)
                .chars()
                .next(),
            whole_message_has_braces,
        }
    }

    fn prev_is_quote(&self) -> bool {
        matches!(self.prev, Some('"' | '\''))
    }
}

/// Every condition of the reference table for `entity`; the frequency test comes last because it is the only
/// one that may cost a lookup.
fn reference_redacts(
    context: &SpanContext<'_>,
    language: &str,
    entity: EntityType,
    doc_freq: &dyn Fn(EntityType, &str) -> u64,
) -> bool {
    let Some(limit) = reference_frequency_limit(entity) else {
        return false;
    };
    let conditions_hold = match entity {
        EntityType::PERSON => person_redactable(context, language),
        EntityType::PHONE_NUMBER => phone_redactable(context),
        EntityType::EMAIL_ADDRESS => email_redactable(context),
        EntityType::CREDIT_CARD => context.around50_lower.contains("card"),
        EntityType::URL => context.span.to_lowercase().contains("linkedin.com/in/"),
        _ => false,
    };
    conditions_hold && doc_freq(entity, &doc_freq_key(context.span)) < limit
}

fn phone_redactable(context: &SpanContext<'_>) -> bool {
    let s = context.span;
    if context.span_len <= 8 {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '+'))
    {
        return false;
    }
    // the IP fragments cannot pass the character test above; kept so the rule reads like the reference
    if s.contains("  ") || PHONE_IP_FRAGMENTS.iter().any(|fragment| s.contains(fragment)) {
        return false;
    }
    if context.prev_is_quote() {
        return false;
    }
    let before = context.before20_lower.as_str();
    let keyword_cue = PHONE_CUES.iter().any(|cue| before.contains(cue));
    let json_label = context.whole_message_has_braces && PHONE_JSON_LABELS.iter().any(|label| before.contains(label));
    let phone_cue = before.contains("phone") && !json_label;
    let mut chars = s.chars();
    let international = chars.next() == Some('+') && chars.next().is_some_and(|c| c.is_ascii_digit());
    let after_blank = matches!(context.prev, Some(' ' | '\n' | '\t'));
    keyword_cue || phone_cue || (international && after_blank)
}

fn email_redactable(context: &SpanContext<'_>) -> bool {
    let s_lower = context.span.to_lowercase();
    !context.prev_is_quote()
        && !context.span.contains('/')
        && !context.before20_lower.contains("\"email\":")
        && !EMAIL_EXCLUSIONS.iter().any(|fragment| s_lower.contains(fragment))
        && !s_lower.starts_with("your@")
}

fn person_redactable(context: &SpanContext<'_>, language: &str) -> bool {
    language == "English" && !context.prev_is_quote() && !person_exception(context) && person_cue(context)
}

/// The PERSON exceptions other than "no cue" (see [`person_cue`]): any one keeps the name.
fn person_exception(context: &SpanContext<'_>) -> bool {
    let s = context.span;
    let message = context.message;
    let first_chars = |n: usize| {
        message
            .char_indices()
            .nth(n)
            .map_or(message, |(byte, _)| &message[..byte])
    };

    if s.contains('\n') || decimal_digit().is_match(s) {
        return true;
    }
    if s.to_lowercase().contains(" the ") {
        return true;
    }
    if first_chars(4).to_lowercase().starts_with("meow") {
        return true;
    }
    if message.starts_with('[') && first_chars(20).contains(']') {
        return true;
    }
    if first_chars(20).contains("write a story") {
        return true;
    }
    if py_strip(s) != s || context.span_len <= 1 {
        return true;
    }
    if s.chars()
        .any(|c| (c.is_ascii_punctuation() && c != '.' && c != '-') || c == '’' || c == '，')
    {
        return true;
    }
    if matches!(s.chars().nth(1), Some('.' | ' ')) {
        return true;
    }
    if s.starts_with(['.', '-']) || s.ends_with(['.', '-']) || s.contains("- ") || s.contains(" -") {
        return true;
    }
    if s.split(is_py_whitespace).filter(|word| !word.is_empty()).count() < 2 {
        return true;
    }
    s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Unicode decimal digits (category Nd), what Python's `re` calls `\d`.
fn decimal_digit() -> &'static Regex {
    static DIGIT: OnceLock<Regex> = OnceLock::new();
    DIGIT.get_or_init(|| Regex::new(r"\d").expect("digit pattern compiles"))
}

/// `before20` ends with a self-introduction cue or contains a greeting/sign-off cue.
fn person_cue(context: &SpanContext<'_>) -> bool {
    let before = context.before20_lower.as_str();
    PERSON_INTRODUCTION_CUES.iter().any(|cue| before.ends_with(cue))
        || PERSON_SIGN_OFF_CUES.iter().any(|cue| before.contains(cue))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
