//! Rule approximations of Presidio's NER types PERSON, LOCATION and NRP, run over the capitalised words that the
//! detector's single byte scan collected: gazetteer phrases, names after self-introduction, greeting, title and
//! sign-off cues, and a common given name followed by a capitalised surname.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::gazetteer;
use crate::{Cand, EntityType, E};

/// Score of a name after a strong cue (`my name is`, `Dear`, `Mr.`) or on the line after a sign-off.
const STRONG: f32 = 0.85;
/// Score of a name after a weak cue (`I am`, `this is`, `Hi`).
const WEAK: f32 = 0.7;
/// Score of a known given name followed by a capitalised surname, anywhere.
const GIVEN_AND_SURNAME: f32 = 0.5;
/// Score of a gazetteer place or group.
const GAZETTEER: f32 = 0.65;
/// Score of an unknown capitalised word after `from`, `lives in` and the like.
const AFTER_PLACE_CUE: f32 = 0.4;
/// At most this many words make a name.
const MAX_NAME_WORDS: usize = 4;

/// Cues that make the following capitalised words a name (checked against the lower-cased text before them).
const STRONG_CUES: &[&str] = &[
    "my name is ",
    "my name's ",
    "name is ",
    "call me ",
    "calls me ",
    "called me ",
    "dear ",
    "mr. ",
    "mrs. ",
    "ms. ",
    "dr. ",
    "prof. ",
    "mr ",
    "mrs ",
    "ms ",
    "dr ",
    "miss ",
    "name: ",
];
/// Cues that make them a name when there are two or more words, or the first is a known given name.
const WEAK_CUES: &[&str] = &[
    "i am ",
    "i'm ",
    "i\u{2019}m ",
    "this is ",
    "hello ",
    "hello, ",
    "hi ",
    "hi, ",
    "hey ",
    "hey, ",
    "thanks, ",
    "thank you, ",
    "cheers, ",
    "regards, ",
    "best, ",
    "sincerely, ",
];
/// A line ending in one of these (before a final `,`, `.` or `!`) is a sign-off: the next line's name is the
/// writer's.
const SIGN_OFFS: &[&str] = &[
    "regards",
    "sincerely",
    "yours truly",
    "faithfully",
    "best",
    "best wishes",
    "thanks",
    "thank you",
    "cheers",
    "take care",
    "respectfully",
    "cordially",
    "love",
    "all the best",
    "warmly",
    "with gratitude",
];

/// FxHash (the rustc hasher): the word lists are fixed and small, so a fast non-keyed hash is enough.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

struct Phrase {
    text: &'static str,
    entity: EntityType,
}

/// The compiled word lists.
pub(crate) struct Names {
    /// Gazetteer phrases keyed by their first word, longest first.
    phrases: HashMap<&'static str, Vec<Phrase>, FxBuild>,
    /// Single-word NRP entries, for plurals (`Americans`).
    nrp_words: HashSet<&'static str, FxBuild>,
    given: HashSet<&'static str, FxBuild>,
    /// Words that end a name anywhere.
    breaks: HashSet<&'static str, FxBuild>,
    /// Words that cannot be the first word of a name.
    not_first: HashSet<&'static str, FxBuild>,
}

impl Names {
    pub(crate) fn new() -> Self {
        let mut phrases: HashMap<&'static str, Vec<Phrase>, FxBuild> = HashMap::default();
        let mut nrp_words: HashSet<&'static str, FxBuild> = HashSet::default();
        let lists = [
            (gazetteer::COUNTRIES, E::LOCATION),
            (gazetteer::US_STATES, E::LOCATION),
            (gazetteer::CITIES, E::LOCATION),
            (gazetteer::NATIONALITIES, E::NRP),
            (gazetteer::RELIGIONS, E::NRP),
            (gazetteer::POLITICAL, E::NRP),
        ];
        for (list, entity) in lists {
            for text in list.split('|') {
                let first_end = word_end(text, 0);
                debug_assert!(first_end > 0, "gazetteer entry {text:?} starts with a word");
                let key = &text[..first_end];
                if entity == E::NRP && first_end == text.len() {
                    nrp_words.insert(text);
                }
                phrases.entry(key).or_default().push(Phrase { text, entity });
            }
        }
        for list in phrases.values_mut() {
            list.sort_by_key(|p| std::cmp::Reverse(p.text.len()));
        }
        Names {
            phrases,
            nrp_words,
            given: gazetteer::FIRST_NAMES.split('|').collect(),
            breaks: gazetteer::NAME_BREAK_WORDS.split('|').collect(),
            not_first: gazetteer::NOT_NAME_WORDS.split('|').collect(),
        }
    }

    /// Adds PERSON, LOCATION and NRP candidates for the capitalised words starting at `capitals` (byte offsets of
    /// word starts, ascending).
    pub(crate) fn scan(&self, text: &str, capitals: &[usize], out: &mut Vec<Cand>) {
        let mut consumed = 0usize;
        let mut words: Vec<(usize, usize)> = Vec::with_capacity(8);
        for &start in capitals {
            if start < consumed {
                continue;
            }
            capitalised_run(text, start, &mut words);
            let Some(&(_, first_end)) = words.first() else {
                continue;
            };
            let first = strip_possessive(&text[start..first_end]);
            let name_len = if self.not_first.contains(first) {
                0
            } else {
                let mut n = 0;
                for &(s, e) in words.iter().take(MAX_NAME_WORDS) {
                    let word = strip_possessive(&text[s..e]);
                    if self.breaks.contains(word) {
                        break;
                    }
                    n += 1;
                    // "Melissa Kristoffersen's Cautionary Tales": the name ends at the possessive
                    if word.len() < e - s {
                        break;
                    }
                }
                n
            };
            let place = self.place_at(text, start, first);
            let name_end = |n: usize| {
                let (s, e) = words[n - 1];
                s + strip_possessive(&text[s..e]).len()
            };
            let mut push = |entity, end: usize, score: f32| {
                out.push(Cand {
                    entity,
                    start,
                    end,
                    score,
                    ctx_score: score,
                    deferred_phone_check: false,
                });
                consumed = end;
            };
            if name_len > 0 {
                let end = name_end(name_len);
                // a run that is exactly a place ("This is New York") stays a place
                let is_place = place.is_some_and(|(place_end, _)| place_end >= end);
                let cue = if is_place { None } else { cue_before(text, start) };
                let accepted = match cue {
                    Some(Cue::Strong) => Some(STRONG),
                    Some(Cue::SignOff) if line_rest_is_empty(text, end) => Some(STRONG),
                    Some(Cue::Weak | Cue::SignOff) if name_len >= 2 || self.given.contains(first) => Some(WEAK),
                    _ => None,
                };
                if let Some(score) = accepted {
                    push(E::PERSON, end, score);
                    continue;
                }
            }
            // the surname must not itself be a place or group ("Austin Texas", "Sydney Australians")
            let given_and_surname = name_len >= 2 && self.given.contains(first) && {
                let (s, e) = words[1];
                self.place_at(text, s, strip_possessive(&text[s..e])).is_none()
            };
            if let Some((place_end, entity)) = place {
                // a given name that is also a place ("Jordan Peterson") is a person when a surname follows
                if !(given_and_surname && place_end <= first_end) {
                    push(entity, place_end, GAZETTEER);
                    continue;
                }
            }
            if given_and_surname {
                push(E::PERSON, name_end(name_len.min(3)), GIVEN_AND_SURNAME);
                continue;
            }
            if name_len > 0 && after_place_cue(text, start) {
                push(E::LOCATION, name_end(name_len.min(3)), AFTER_PLACE_CUE);
            }
        }
    }

    /// The longest gazetteer phrase starting at `start` whose first word is `first`: its end and type.
    fn place_at(&self, text: &str, start: usize, first: &str) -> Option<(usize, EntityType)> {
        let rest = &text[start..];
        if let Some(list) = self.phrases.get(first) {
            for p in list {
                if rest.starts_with(p.text) && !rest[p.text.len()..].starts_with(char::is_alphanumeric) {
                    return Some((start + p.text.len(), p.entity));
                }
            }
        }
        // plurals of nationalities, religions and parties: Americans, Muslims, Democrats
        let stem = first.strip_suffix('s')?;
        self.nrp_words.contains(stem).then_some((start + first.len(), E::NRP))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    Strong,
    Weak,
    SignOff,
}

/// Which cue, if any, precedes the word at `start`.
fn cue_before(text: &str, start: usize) -> Option<Cue> {
    let bytes = text.as_bytes();
    // every word cue ends in a space after a word that can end one: most capitals fail this at once
    let could_be_cue = start >= 3
        && bytes[start - 1] == b' '
        && matches!(
            bytes[start - 2].to_ascii_lowercase(),
            b's' | b'e' | b'r' | b'.' | b'm' | b'o' | b'i' | b'y' | b',' | b':'
        );
    if could_be_cue {
        let from = start.saturating_sub(24);
        let before: Vec<u8> = bytes[from..start].iter().map(u8::to_ascii_lowercase).collect();
        let ends_with_cue = |cue: &str| {
            let cue = cue.as_bytes();
            before.ends_with(cue) && {
                // the cue must start a word: "dear " but not "bear "
                let at = before.len() - cue.len();
                let prev = if at > 0 {
                    Some(before[at - 1])
                } else {
                    from.checked_sub(1).map(|i| bytes[i])
                };
                !prev.is_some_and(|b| b.is_ascii_alphanumeric())
            }
        };
        if STRONG_CUES.iter().any(|c| ends_with_cue(c)) {
            return Some(Cue::Strong);
        }
        if WEAK_CUES.iter().any(|c| ends_with_cue(c)) {
            return Some(Cue::Weak);
        }
    }
    sign_off_before(text, start).then_some(Cue::SignOff)
}

/// How far back a sign-off line is looked for, in bytes.
const SIGN_OFF_REACH: usize = 64;

/// Whether the word at `start` begins a line whose previous non-blank line is a short sign-off.
fn sign_off_before(text: &str, start: usize) -> bool {
    let bytes = text.as_bytes();
    // only indentation between the line start and the word
    let mut line_start = start;
    while line_start > 0 && matches!(bytes[line_start - 1], b' ' | b'\t') {
        line_start -= 1;
    }
    if line_start == 0 || bytes[line_start - 1] != b'\n' {
        return false;
    }
    let from = floor_boundary(text, (line_start - 1).saturating_sub(SIGN_OFF_REACH));
    let mut earlier = &text[from..line_start - 1];
    // allow one blank line between the sign-off and the name
    for _ in 0..2 {
        let Some(nl) = earlier.rfind('\n').or((from == 0).then_some(usize::MAX)) else {
            // the line may be longer than the reach: then it is no short sign-off
            return false;
        };
        let line_from = nl.wrapping_add(1);
        let line = earlier[line_from..].trim();
        if line.is_empty() {
            if nl == usize::MAX {
                return false;
            }
            earlier = &earlier[..nl];
            continue;
        }
        if line.len() > 40 {
            return false;
        }
        let line = line.trim_end_matches([',', '.', '!']).to_lowercase();
        return SIGN_OFFS.iter().any(|s| {
            line.ends_with(s) && {
                let at = line.len() - s.len();
                at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric()
            }
        });
    }
    false
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Whether only spaces, a comma or a line end follow `end` on its line.
fn line_rest_is_empty(text: &str, end: usize) -> bool {
    let next = text.as_bytes()[end..]
        .iter()
        .find(|&&b| !matches!(b, b' ' | b'\t' | b'\r'));
    matches!(next, None | Some(b'\n' | b','))
}

/// English phrases after which a capitalised word is a place. A bare `in` is not one: German and Dutch
/// capitalise every noun and use `in` too.
const PLACE_CUES: &[&str] = &[
    " from ",
    " near ",
    " grew up in ",
    " live in ",
    " lives in ",
    " lived in ",
    " living in ",
    " born in ",
    " based in ",
    " located in ",
    " moved to ",
    " travel to ",
    " traveled to ",
    " travelled to ",
    " visit ",
    " visited ",
    " flew to ",
    " arrived in ",
    " arrived at ",
    " returned to ",
];

/// Whether the word at `start` follows one of [`PLACE_CUES`] (lower case, as words).
fn after_place_cue(text: &str, start: usize) -> bool {
    let before = &text.as_bytes()[start.saturating_sub(16)..start];
    PLACE_CUES.iter().any(|p| before.ends_with(p.as_bytes()))
}

/// Drops a possessive `'s` from a word.
fn strip_possessive(word: &str) -> &str {
    word.strip_suffix("'s")
        .or_else(|| word.strip_suffix("\u{2019}s"))
        .unwrap_or(word)
}

/// The end of the word starting at `start`: letters, with inner `'`, `’` or `-` followed by a letter (O'Neil,
/// Jean-Luc); a single capital followed by `.` is an initial and includes the dot. Returns `start` when there
/// is no letter there.
pub(crate) fn word_end(text: &str, start: usize) -> usize {
    let mut chars = text[start..].char_indices().peekable();
    let mut end = start;
    let mut letters = 0usize;
    while let Some((i, c)) = chars.next() {
        if c.is_alphabetic() {
            letters += 1;
            end = start + i + c.len_utf8();
            continue;
        }
        let joins = matches!(c, '\'' | '\u{2019}' | '-') && letters > 0;
        if joins && chars.peek().is_some_and(|&(_, n)| n.is_alphabetic()) {
            continue;
        }
        if c == '.' && letters == 1 {
            end = start + i + 1;
        }
        break;
    }
    end
}

/// The capitalised words from `start` on, separated by single spaces (at most one more than a name can have).
fn capitalised_run(text: &str, start: usize, words: &mut Vec<(usize, usize)>) {
    words.clear();
    let mut at = start;
    while words.len() <= MAX_NAME_WORDS {
        if !text[at..].starts_with(char::is_uppercase) {
            break;
        }
        let end = word_end(text, at);
        if end == at {
            break;
        }
        words.push((at, end));
        let rest = &text.as_bytes()[end..];
        if rest.first() != Some(&b' ') {
            break;
        }
        at = end + 1;
    }
}
