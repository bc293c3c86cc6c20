//! Rule-based PII detection in the style of Presidio's pattern recognizers, for all 27 Presidio types.
//!
//! A text is read once, byte by byte. That scan marks windows around the bytes every pattern match must contain
//! (ASCII digits, `@`, `:` and `.` between alphanumerics) and collects the capitalised words. All candidate
//! patterns live in one [`regex::RegexSet`] that runs only over those windows; the patterns that fired there
//! re-run on the same windows for positions. Candidates are validated (checksums, `std::net` parsing, the
//! `phonenumber` metadata), scored, raised by context words near weak candidates, and resolved so that each
//! character belongs to at most one span. Everything is linear in the length of the text.
//!
//! Rule approximations: Presidio finds PERSON, LOCATION, NRP and DATE_TIME with NER models; here they are
//! rules. PERSON is a name after a self-introduction, greeting, title or sign-off cue, or a common given name
//! followed by a capitalised surname; LOCATION and NRP are gazetteer phrases (countries, US states, large
//! cities; nationalities, religions, political groups) plus capitalised words after `from`, `lives in` and
//! similar English cues; DATE_TIME is a set of date and time shapes. Names and places in non-Latin scripts are
//! not found.
//!
//! Offsets in [`Span`] are Unicode code points, end-exclusive.

pub mod checks;
mod gazetteer;
mod names;
#[cfg(feature = "ner")]
pub mod ner;
mod patterns;
pub mod policy;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::OnceLock;

use regex::{Regex, RegexSet};

use patterns::{Rec, MAX_SPACED_MATCH};

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
    pub const IMPLEMENTED: &'static [EntityType] = Self::ALL;

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
/// The same distance in bytes, enough for any script (a code point is at most four bytes).
const CONTEXT_WINDOW_BYTES: usize = CONTEXT_WINDOW * 4;
/// The longest context word in code points (plus a plural `s`), to bound the sweep over context hits.
const MAX_CONTEXT_WORD: usize = 32;

/// Compiled recognizers. Build once (it compiles a few large regexes) and share: it is `Send + Sync`.
pub struct Detector {
    set: RegexSet,
    recs: Vec<(Rec, Regex)>,
    /// All context words in one alternation, longest first; whole-word checks happen on the hits.
    context: Regex,
    /// Lower-cased context word to the types it raises.
    context_types: HashMap<String, Vec<EntityType>>,
    names: names::Names,
    phone_regions: Vec<phonenumber::country::Id>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

/// A candidate in byte offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    entity: EntityType,
    start: usize,
    end: usize,
    score: f32,
    /// Score when a context word for the type is nearby.
    ctx_score: f32,
    /// A bare digit run that is a phone number only if the phone library accepts it: checked only once a
    /// context word has raised it, because the library is slow and most digit runs are no phone.
    deferred_phone_check: bool,
}

/// What the single byte scan of a text found.
struct Scan {
    /// Disjoint byte ranges, ascending, that hold every position where a pattern can match. Each starts after
    /// ASCII whitespace (or at 0) and ends at ASCII whitespace (or the end).
    windows: Vec<(usize, usize)>,
    /// Byte offsets of capitalised words (ASCII or Latin-1/Latin Extended-A capitals at a word start).
    capitals: Vec<usize>,
}

/// Byte classes of the scan.
const PLAIN: u8 = 0;
/// Every pattern match contains one of these: ASCII digits and `@`.
const TRIGGER: u8 = 1;
/// `:` between alphanumerics (IPv6, `scheme://`) and `.` between alphanumerics (domains) are triggers too.
const COLON: u8 = 2;
const DOT: u8 = 3;
const UPPER: u8 = 4;
/// Lead bytes of U+00C0..U+017F, where accented Latin capitals live.
const LATIN_LEAD: u8 = 5;

const fn byte_classes() -> [u8; 256] {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_digit() || c == b'@' {
            TRIGGER
        } else if c == b':' {
            COLON
        } else if c == b'.' {
            DOT
        } else if c.is_ascii_uppercase() {
            UPPER
        } else if c >= 0xC3 && c <= 0xC5 {
            LATIN_LEAD
        } else {
            PLAIN
        };
        b += 1;
    }
    t
}

static BYTE_CLASS: [u8; 256] = byte_classes();

fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// One pass over the bytes of `text`: trigger windows for the pattern set and capitalised words for the name
/// rules. Linear in the length of the text: windows are merged as they grow and snapped outwards only up to
/// the previous window.
fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut raw: Vec<(usize, usize)> = Vec::new();
    let mut capitals = Vec::new();
    let mut add_trigger = |i: usize| {
        let lo = i.saturating_sub(MAX_SPACED_MATCH);
        let hi = (i + MAX_SPACED_MATCH + 1).min(n);
        match raw.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => raw.push((lo, hi)),
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        match BYTE_CLASS[b as usize] {
            PLAIN => {}
            TRIGGER => add_trigger(i),
            COLON => {
                let prev_ok = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b':');
                let next_ok = bytes
                    .get(i + 1)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b':' || c == b'/');
                if prev_ok && next_ok {
                    add_trigger(i);
                }
            }
            DOT => {
                let prev_ok = i > 0 && bytes[i - 1].is_ascii_alphanumeric();
                let next_ok = bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic);
                if prev_ok && next_ok {
                    add_trigger(i);
                }
            }
            UPPER => {
                if word_start(text, i) {
                    capitals.push(i);
                }
            }
            _ => {
                // LATIN_LEAD: an accented capital such as É or Ł
                if text.is_char_boundary(i)
                    && text[i..].chars().next().is_some_and(char::is_uppercase)
                    && word_start(text, i)
                {
                    capitals.push(i);
                }
            }
        }
    }
    let mut windows: Vec<(usize, usize)> = Vec::with_capacity(raw.len());
    for (lo, hi) in raw {
        let floor = windows.last().map_or(0, |w| w.1);
        let mut start = lo.max(floor);
        while start > floor && !is_ascii_space(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = hi.max(floor);
        while end < n && !is_ascii_space(bytes[end]) {
            end += 1;
        }
        match windows.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => windows.push((start, end)),
        }
    }
    debug_assert!(windows
        .iter()
        .all(|&(s, e)| text.is_char_boundary(s) && text.is_char_boundary(e)));
    Scan { windows, capitals }
}

/// Whether the character before byte `i` is not a letter or digit.
fn word_start(text: &str, i: usize) -> bool {
    let Some(&prev) = text.as_bytes().get(i.wrapping_sub(1)) else {
        return true;
    };
    if prev < 0x80 {
        return !prev.is_ascii_alphanumeric();
    }
    !text[..i].chars().next_back().is_some_and(char::is_alphanumeric)
}

impl Detector {
    pub fn new() -> Self {
        let pats = patterns::patterns();
        let set = RegexSet::new(pats.iter().map(|(_, p)| p.as_str())).expect("pii patterns compile");
        let recs = pats
            .into_iter()
            .map(|(r, p)| (r, Regex::new(&p).expect("pii pattern compiles")))
            .collect();
        let mut context_types: HashMap<String, Vec<EntityType>> = HashMap::new();
        for (ty, words) in patterns::context_words() {
            for w in words {
                let types = context_types.entry(w.to_lowercase()).or_default();
                if !types.contains(&ty) {
                    types.push(ty);
                }
            }
        }
        let mut words: Vec<&String> = context_types.keys().collect();
        // longest first, so that leftmost-first matching prefers "telephone" over "tel"
        words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        let alts: Vec<String> = words
            .iter()
            .map(|w| {
                if w.is_ascii() {
                    format!("{}s?", regex::escape(w))
                } else {
                    regex::escape(w)
                }
            })
            .collect();
        let context = Regex::new(&format!("(?i){}", alts.join("|"))).expect("context regex compiles");
        use phonenumber::country::Id;
        Detector {
            set,
            recs,
            context,
            context_types,
            names: names::Names::new(),
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
    ///
    /// Linear in the length of the text: one byte scan, the pattern set only over windows around trigger
    /// bytes, context words only near weak candidates, and sorted sweeps afterwards.
    pub fn detect(&self, text: &str) -> Vec<Span> {
        let scan = scan(text);
        let mut cands = Vec::new();
        for &(ws, we) in &scan.windows {
            let window = &text[ws..we];
            let hits = self.set.matches(window);
            for idx in hits.iter() {
                let (rec, re) = &self.recs[idx];
                for m in re.find_iter(window) {
                    self.validate(*rec, text, ws + m.start(), ws + m.end(), &mut cands);
                }
            }
        }
        self.names.scan(text, &scan.capitals, &mut cands);
        if cands.is_empty() {
            return Vec::new();
        }
        let ctx = self.context_hits(text, &cands);
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
        // context hits per type, in code points, sorted by start
        let mut by_type: Vec<Vec<(usize, usize)>> = vec![Vec::new(); EntityType::ALL.len()];
        for &(t, s, e) in &ctx {
            by_type[t as usize].push((cp.get(s), cp.get(e)));
        }
        for hits in &mut by_type {
            hits.sort_unstable();
        }
        let mut spans: Vec<Span> = cands
            .into_iter()
            .filter_map(|c| {
                let (start, end) = (cp.get(c.start), cp.get(c.end));
                let mut score = c.score;
                if c.ctx_score > c.score && context_near(&by_type[c.entity as usize], start, end) {
                    if c.deferred_phone_check && !self.library_valid(&text[c.start..c.end]) {
                        return None;
                    }
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

    /// Context words (type, byte start, byte end) within reach of the candidates that a context word would
    /// raise. Searched only in merged windows around those candidates.
    fn context_hits(&self, text: &str, cands: &[Cand]) -> Vec<(EntityType, usize, usize)> {
        let mut around: Vec<(usize, usize)> = cands
            .iter()
            .filter(|c| c.ctx_score > c.score)
            .map(|c| {
                (
                    floor_char_boundary(
                        text,
                        c.start.saturating_sub(CONTEXT_WINDOW_BYTES + MAX_CONTEXT_WORD * 4),
                    ),
                    ceil_char_boundary(text, c.end + CONTEXT_WINDOW_BYTES + MAX_CONTEXT_WORD * 4),
                )
            })
            .collect();
        if around.is_empty() {
            return Vec::new();
        }
        around.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(around.len());
        for (s, e) in around {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut hits = Vec::new();
        for (ws, we) in merged {
            for m in self.context.find_iter(&text[ws..we]) {
                let (s, e) = (ws + m.start(), ws + m.end());
                let word = m.as_str().to_lowercase();
                let types = match self.context_types.get(&word) {
                    Some(t) => t,
                    None => match word.strip_suffix('s').and_then(|w| self.context_types.get(w)) {
                        Some(t) => t,
                        None => continue,
                    },
                };
                // Latin-script words count only as whole words
                let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
                if m.as_str().is_ascii()
                    && (text[..s].chars().next_back().is_some_and(is_word_char)
                        || text[e..].chars().next().is_some_and(is_word_char))
                {
                    continue;
                }
                hits.extend(types.iter().map(|&t| (t, s, e)));
            }
        }
        hits
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

/// Whether a context hit (code points, sorted by start) lies within [`CONTEXT_WINDOW`] of `start..end` and
/// outside it.
fn context_near(hits: &[(usize, usize)], start: usize, end: usize) -> bool {
    let from = hits.partition_point(|&(s, _)| s + CONTEXT_WINDOW + MAX_CONTEXT_WORD < start);
    hits[from..]
        .iter()
        .take_while(|&&(s, _)| s <= end + CONTEXT_WINDOW)
        .any(|&(s, e)| e + CONTEXT_WINDOW >= start && (e <= start || s >= end))
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Keeps the best span for each character range: higher score first, then the longer span. Kept spans live in
/// an ordered map, so each check is a logarithmic lookup of the nearest kept span.
fn resolve(spans: &mut Vec<Span>) {
    spans.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(checksum_rank(a.entity).cmp(&checksum_rank(b.entity)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
    for s in spans.drain(..) {
        if s.end <= s.start {
            continue;
        }
        // kept spans are disjoint, so the one starting last before `s.end` is the only one that can overlap
        let overlaps = kept.range(..s.end).next_back().is_some_and(|(_, k)| k.end > s.start);
        if !overlaps {
            kept.insert(s.start, s);
        }
    }
    *spans = kept.into_values().collect();
}

/// On equal score and length, a type whose checksum held beats one that only has a shape
/// (`6759 9688 7195` is a Luhn-valid Maestro card before it is a phone-shaped number).
fn checksum_rank(entity: EntityType) -> u8 {
    match entity {
        E::CREDIT_CARD | E::IBAN_CODE | E::CRYPTO | E::MEDICAL_LICENSE | E::IT_FISCAL_CODE => 0,
        _ => 1,
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
