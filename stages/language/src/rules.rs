//! The character rules lingua applies before any n-gram is scored: a language decided by its
//! alphabet or its unique letters, and the narrowing of candidates to the text's dominant
//! alphabet. The character tables are lingua 1.8's (Apache-2.0), kept as data here because
//! labels must agree with lingua's letter for letter.

use lingua::Language;
use regex_syntax::hir::{Class, HirKind};

use super::models::LanguageSet;

/// Writing systems lingua distinguishes, in lingua's order (ties between alphabets break
/// towards the earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Alphabet {
    Arabic,
    Armenian,
    Bengali,
    Cyrillic,
    Devanagari,
    Georgian,
    Greek,
    Gujarati,
    Gurmukhi,
    Han,
    Hangul,
    Hebrew,
    Hiragana,
    Katakana,
    Latin,
    Tamil,
    Telugu,
    Thai,
}

const ALPHABETS: [(Alphabet, &str); 18] = [
    (Alphabet::Arabic, "Arabic"),
    (Alphabet::Armenian, "Armenian"),
    (Alphabet::Bengali, "Bengali"),
    (Alphabet::Cyrillic, "Cyrillic"),
    (Alphabet::Devanagari, "Devanagari"),
    (Alphabet::Georgian, "Georgian"),
    (Alphabet::Greek, "Greek"),
    (Alphabet::Gujarati, "Gujarati"),
    (Alphabet::Gurmukhi, "Gurmukhi"),
    (Alphabet::Han, "Han"),
    (Alphabet::Hangul, "Hangul"),
    (Alphabet::Hebrew, "Hebrew"),
    (Alphabet::Hiragana, "Hiragana"),
    (Alphabet::Katakana, "Katakana"),
    (Alphabet::Latin, "Latin"),
    (Alphabet::Tamil, "Tamil"),
    (Alphabet::Telugu, "Telugu"),
    (Alphabet::Thai, "Thai"),
];

/// The alphabets a language is written in; every language not listed is Latin-only.
fn alphabets_of(language: Language) -> &'static [Alphabet] {
    use Alphabet as A;
    match language {
        Language::Belarusian
        | Language::Bulgarian
        | Language::Kazakh
        | Language::Macedonian
        | Language::Mongolian
        | Language::Russian
        | Language::Serbian
        | Language::Ukrainian => &[A::Cyrillic],
        Language::Arabic | Language::Persian | Language::Urdu => &[A::Arabic],
        Language::Hindi | Language::Marathi => &[A::Devanagari],
        Language::Armenian => &[A::Armenian],
        Language::Bengali => &[A::Bengali],
        Language::Chinese => &[A::Han],
        Language::Georgian => &[A::Georgian],
        Language::Greek => &[A::Greek],
        Language::Gujarati => &[A::Gujarati],
        Language::Hebrew => &[A::Hebrew],
        Language::Japanese => &[A::Hiragana, A::Katakana, A::Han],
        Language::Korean => &[A::Hangul],
        Language::Punjabi => &[A::Gurmukhi],
        Language::Tamil => &[A::Tamil],
        Language::Telugu => &[A::Telugu],
        Language::Thai => &[A::Thai],
        _ => &[A::Latin],
    }
}

/// Letters only one language uses (within Latin, Cyrillic and Devanagari).
const UNIQUE_CHARACTERS: [(Language, &str); 19] = [
    (Language::Azerbaijani, "Əə"),
    (Language::Catalan, "Ïï"),
    (Language::Czech, "ĚěŘřŮů"),
    (Language::Esperanto, "ĈĉĜĝĤĥĴĵŜŝŬŭ"),
    (Language::German, "ß"),
    (Language::Hungarian, "ŐőŰű"),
    (Language::Kazakh, "ӘәҒғҚқҢңҰұ"),
    (Language::Latvian, "ĢģĶķĻļŅņ"),
    (Language::Lithuanian, "ĖėĮįŲų"),
    (Language::Macedonian, "ЃѓЅѕЌќЏџ"),
    (Language::Marathi, "ळ"),
    (Language::Polish, "ŁłŃńŚśŹź"),
    (Language::Romanian, "Țţ"),
    (Language::Serbian, "ЂђЋћ"),
    (Language::Slovak, "ĹĺĽľŔŕ"),
    (Language::Spanish, "¿¡"),
    (Language::Ukrainian, "ҐґЄєЇї"),
    (
        Language::Vietnamese,
        "ẰằẦầẲẳẨẩẴẵẪẫẮắẤấẠạẶặẬậỀềẺẻỂểẼẽỄễẾếỆệỈỉĨĩỊịƠơỒồỜờỎỏỔổỞởỖỗỠỡỐốỚớỘộỢợƯưỪừỦủỬửŨũỮữỨứỤụỰựỲỳỶỷỸỹỴỵ",
    ),
    (Language::Yoruba, "Ṣṣ"),
];

/// Letters shared by a few languages: a text using one narrows the candidates to them.
const SHARED_CHARACTERS: [(&str, &[Language]); 44] = {
    use Language::*;
    [
        ("Ãã", &[Portuguese, Vietnamese]),
        ("ĄąĘę", &[Lithuanian, Polish]),
        ("Żż", &[Polish, Romanian]),
        ("Îî", &[French, Romanian]),
        ("Ññ", &[Basque, Spanish]),
        ("ŇňŤť", &[Czech, Slovak]),
        ("Ăă", &[Romanian, Vietnamese]),
        ("İıĞğ", &[Azerbaijani, Turkish]),
        ("ЈјЉљЊњ", &[Macedonian, Serbian]),
        ("ẸẹỌọ", &[Vietnamese, Yoruba]),
        ("ÐðÞþ", &[Icelandic, Turkish]),
        ("Ûû", &[French, Hungarian]),
        ("Ōō", &[Maori, Yoruba]),
        ("ӨөҮү", &[Kazakh, Mongolian]),
        ("ĀāĒēĪī", &[Latvian, Maori, Yoruba]),
        ("Şş", &[Azerbaijani, Romanian, Turkish]),
        ("Ďď", &[Czech, Romanian, Slovak]),
        ("Ćć", &[Bosnian, Croatian, Polish]),
        ("Đđ", &[Bosnian, Croatian, Vietnamese]),
        ("Іі", &[Belarusian, Kazakh, Ukrainian]),
        ("Ìì", &[Italian, Vietnamese, Yoruba]),
        ("Øø", &[Bokmal, Danish, Nynorsk]),
        ("Ūū", &[Latvian, Lithuanian, Maori, Yoruba]),
        ("Ëë", &[Afrikaans, Albanian, Dutch, French]),
        ("ÈèÙù", &[French, Italian, Vietnamese, Yoruba]),
        ("Êê", &[Afrikaans, French, Portuguese, Vietnamese]),
        ("Õõ", &[Estonian, Hungarian, Portuguese, Vietnamese]),
        ("Ôô", &[French, Portuguese, Slovak, Vietnamese]),
        ("ЁёЫыЭэ", &[Belarusian, Kazakh, Mongolian, Russian]),
        ("ЩщЪъ", &[Bulgarian, Kazakh, Mongolian, Russian]),
        ("Òò", &[Catalan, Italian, Vietnamese, Yoruba]),
        ("Ââ", &[French, Portuguese, Romanian, Turkish, Vietnamese]),
        ("Ææ", &[Bokmal, Danish, Icelandic, Nynorsk]),
        ("Åå", &[Bokmal, Danish, Nynorsk, Swedish]),
        ("Ýý", &[Czech, Icelandic, Slovak, Turkish, Vietnamese]),
        ("Ää", &[Estonian, Finnish, German, Slovak, Swedish]),
        ("Àà", &[Catalan, French, Italian, Portuguese, Vietnamese]),
        (
            "Üü",
            &[Azerbaijani, Catalan, Estonian, German, Hungarian, Spanish, Turkish],
        ),
        (
            "ČčŠšŽž",
            &[Bosnian, Czech, Croatian, Latvian, Lithuanian, Slovak, Slovene],
        ),
        (
            "Çç",
            &[Albanian, Azerbaijani, Basque, Catalan, French, Portuguese, Turkish],
        ),
        (
            "Öö",
            &[
                Azerbaijani,
                Estonian,
                Finnish,
                German,
                Hungarian,
                Icelandic,
                Swedish,
                Turkish,
            ],
        ),
        (
            "Óó",
            &[
                Catalan, Hungarian, Icelandic, Irish, Polish, Portuguese, Slovak, Spanish, Vietnamese, Yoruba,
            ],
        ),
        (
            "ÁáÍíÚú",
            &[
                Catalan, Czech, Icelandic, Irish, Hungarian, Portuguese, Slovak, Spanish, Vietnamese, Yoruba,
            ],
        ),
        (
            "Éé",
            &[
                Catalan, Czech, French, Hungarian, Icelandic, Irish, Italian, Portuguese, Slovak, Spanish, Vietnamese,
                Yoruba,
            ],
        ),
    ]
};

/// Per-text verdict of the rules: a language, or the candidates left for n-gram scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOutcome {
    Decided(usize),
    Candidates(LanguageSet),
}

#[derive(Debug)]
pub struct Rules {
    /// Sorted, disjoint code-point ranges of the 18 alphabets (Unicode Script property).
    ranges: Vec<(u32, u32, Alphabet)>,
    /// The one language of an alphabet that only one language uses.
    single_language: [Option<usize>; 18],
    languages_of_alphabet: [LanguageSet; 18],
    /// Unique letters, as (letter, language index), sorted by letter.
    unique: Vec<(char, usize)>,
    /// Letters shared by a few languages: (letter, group) sorted by letter, and each group's
    /// languages.
    shared_letters: Vec<(char, usize)>,
    shared_groups: Vec<LanguageSet>,
    chinese: usize,
    japanese: usize,
    all: LanguageSet,
}

impl Rules {
    /// `languages` is the model's language order; indices below refer to it.
    pub fn new(languages: &[Language]) -> Rules {
        let index = |language: Language| languages.binary_search(&language).ok();
        let mut ranges = Vec::new();
        for (alphabet, script) in ALPHABETS {
            for (start, end) in script_ranges(script) {
                ranges.push((start, end, alphabet));
            }
        }
        ranges.sort_unstable();
        let mut languages_of_alphabet = [0 as LanguageSet; 18];
        for (position, &language) in languages.iter().enumerate() {
            for &alphabet in alphabets_of(language) {
                languages_of_alphabet[alphabet as usize] |= 1 << position;
            }
        }
        let mut single_language = [None; 18];
        for (alphabet, set) in languages_of_alphabet.iter().enumerate() {
            if set.count_ones() == 1 {
                single_language[alphabet] = Some(set.trailing_zeros() as usize);
            }
        }
        let mut unique = Vec::new();
        for (language, letters) in UNIQUE_CHARACTERS {
            if let Some(position) = index(language) {
                unique.extend(letters.chars().map(|letter| (letter, position)));
            }
        }
        unique.sort_unstable();
        let mut shared_letters = Vec::new();
        let mut shared_groups = Vec::new();
        for (group, (letters, members)) in SHARED_CHARACTERS.iter().enumerate() {
            shared_letters.extend(letters.chars().map(|letter| (letter, group)));
            shared_groups.push(
                members
                    .iter()
                    .filter_map(|&language| index(language))
                    .fold(0 as LanguageSet, |set, position| set | (1 << position)),
            );
        }
        shared_letters.sort_unstable();
        Rules {
            ranges,
            single_language,
            languages_of_alphabet,
            unique,
            shared_letters,
            shared_groups,
            chinese: index(Language::Chinese).unwrap_or(usize::MAX),
            japanese: index(Language::Japanese).unwrap_or(usize::MAX),
            all: if languages.len() >= 128 {
                LanguageSet::MAX
            } else {
                (1 << languages.len()) - 1
            },
        }
    }

    #[inline]
    pub fn alphabet_of(&self, ch: char) -> Option<Alphabet> {
        if ch.is_ascii() {
            return ch.is_ascii_alphabetic().then_some(Alphabet::Latin);
        }
        let code = ch as u32;
        let position = self.ranges.partition_point(|&(_, end, _)| end < code);
        match self.ranges.get(position) {
            Some(&(start, _, alphabet)) if start <= code => Some(alphabet),
            _ => None,
        }
    }

    /// lingua's rule stage then its alphabet filter, for the lowercased words of one text.
    pub fn apply(&self, words: &[&str]) -> RuleOutcome {
        if let Some(language) = self.decide_by_characters(words) {
            return RuleOutcome::Decided(language);
        }
        let candidates = self.filter_by_alphabet(words);
        if candidates.count_ones() == 1 {
            return RuleOutcome::Decided(candidates.trailing_zeros() as usize);
        }
        RuleOutcome::Candidates(candidates)
    }

    /// Each word votes for the language its letters single out (or for nobody); the text
    /// goes to the clear winner, unless unattributed words are at least half.
    fn decide_by_characters(&self, words: &[&str]) -> Option<usize> {
        // Votes keyed by language index, `usize::MAX` standing for "no language" (which sorts
        // before every language, as lingua's `None` does).
        const NOBODY: usize = usize::MAX;
        let mut totals: Vec<(usize, usize)> = Vec::new();
        let vote = |totals: &mut Vec<(usize, usize)>, key: usize| match totals.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => *count += 1,
            None => totals.push((key, 1)),
        };
        let mut letters: Vec<(usize, usize)> = Vec::new();
        for word in words {
            letters.clear();
            for ch in word.chars() {
                let alphabet = match self.alphabet_of(ch) {
                    Some(alphabet) => alphabet,
                    None => continue,
                };
                if let Some(language) = self.single_language[alphabet as usize] {
                    count(&mut letters, language);
                } else if alphabet == Alphabet::Han {
                    count(&mut letters, self.chinese);
                } else if matches!(alphabet, Alphabet::Latin | Alphabet::Cyrillic | Alphabet::Devanagari) {
                    let start = self.unique.partition_point(|&(letter, _)| letter < ch);
                    for &(_, language) in self.unique[start..].iter().take_while(|&&(letter, _)| letter == ch) {
                        count(&mut letters, language);
                    }
                }
            }
            let key = match letters.len() {
                0 => NOBODY,
                1 => letters[0].0,
                _ if letters.iter().any(|&(l, _)| l == self.chinese)
                    && letters.iter().any(|&(l, _)| l == self.japanese) =>
                {
                    self.japanese
                }
                _ => {
                    let (first, second) = top_two(&letters);
                    if first.1 > second.1 {
                        first.0
                    } else {
                        NOBODY
                    }
                }
            };
            vote(&mut totals, key);
        }
        let unknown = totals
            .iter()
            .find(|(key, _)| *key == NOBODY)
            .map_or(0, |(_, count)| *count);
        if (unknown as f64) < words.len() as f64 * 0.5 {
            totals.retain(|(key, _)| *key != NOBODY);
        }
        match totals.len() {
            0 => None,
            1 => Some(totals[0].0).filter(|&key| key != NOBODY),
            _ => {
                let (first, second) = top_two_nobody_first(&totals);
                let pair = [first.0, second.0];
                if pair.contains(&self.japanese) && pair.contains(&self.chinese) {
                    return Some(self.japanese);
                }
                if first.1 == second.1 {
                    return None;
                }
                Some(first.0).filter(|&key| key != NOBODY)
            }
        }
    }

    /// Keeps the languages of the alphabet covering most characters (whole words only), then,
    /// if letters shared by a few languages appear in at least half the words, only those.
    fn filter_by_alphabet(&self, words: &[&str]) -> LanguageSet {
        let mut characters = [0usize; 18];
        for word in words {
            let mut chars = word.chars();
            let first = chars.next().and_then(|ch| self.alphabet_of(ch));
            if let Some(alphabet) = first {
                if chars.all(|ch| self.alphabet_of(ch) == Some(alphabet)) {
                    characters[alphabet as usize] += word.chars().count();
                }
            }
        }
        let used: Vec<(usize, usize)> = characters
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(alphabet, &count)| (alphabet, count))
            .collect();
        if used.is_empty() {
            return self.all;
        }
        if used.len() > 1 && used.iter().all(|&(_, count)| count == used[0].1) {
            return self.all;
        }
        // Most characters; ties go to the earlier alphabet.
        let dominant = used
            .iter()
            .fold(
                used[0],
                |best, &candidate| if candidate.1 > best.1 { candidate } else { best },
            )
            .0;
        let filtered = self.languages_of_alphabet[dominant];
        // lingua counts, per group, every (word, letter of the group the word contains) pair
        // for each relevant language; collecting each word's distinct shared letters once
        // gives the same counts without scanning every word for every letter.
        let mut group_hits = vec![0usize; self.shared_groups.len()];
        let mut seen: Vec<char> = Vec::new();
        for word in words {
            seen.clear();
            for ch in word.chars().filter(|ch| !ch.is_ascii()) {
                if seen.contains(&ch) {
                    continue;
                }
                seen.push(ch);
                let start = self.shared_letters.partition_point(|&(letter, _)| letter < ch);
                for &(_, group) in self.shared_letters[start..]
                    .iter()
                    .take_while(|&&(letter, _)| letter == ch)
                {
                    group_hits[group] += 1;
                }
            }
        }
        let mut counts = [0usize; 128];
        for (group, &hits) in group_hits.iter().enumerate() {
            let mut relevant = filtered & self.shared_groups[group];
            while hits > 0 && relevant != 0 {
                counts[relevant.trailing_zeros() as usize] += hits;
                relevant &= relevant - 1;
            }
        }
        let half = words.len() as f64 * 0.5;
        let subset = counts
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0 && count as f64 >= half)
            .fold(0 as LanguageSet, |set, (position, _)| set | (1 << position));
        if subset != 0 {
            subset
        } else {
            filtered
        }
    }
}

fn count(letters: &mut Vec<(usize, usize)>, language: usize) {
    match letters.iter_mut().find(|(l, _)| *l == language) {
        Some((_, count)) => *count += 1,
        None => letters.push((language, 1)),
    }
}

/// The two highest counts, ties broken towards the lower language index (lingua's order).
fn top_two(counts: &[(usize, usize)]) -> ((usize, usize), (usize, usize)) {
    let mut sorted = counts.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    (sorted[0], sorted[1])
}

/// As `top_two`, with "no language" ordered before every language.
fn top_two_nobody_first(counts: &[(usize, usize)]) -> ((usize, usize), (usize, usize)) {
    let mut sorted = counts.to_vec();
    let rank = |key: usize| key.wrapping_add(1);
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(rank(a.0).cmp(&rank(b.0))));
    (sorted[0], sorted[1])
}

/// Code-point ranges of a Unicode script (the Script property, as regex's `\p{sc=...}`).
fn script_ranges(script: &str) -> Vec<(u32, u32)> {
    let pattern = format!(r"\p{{sc={script}}}");
    let hir = match regex_syntax::Parser::new().parse(&pattern) {
        Ok(hir) => hir,
        Err(_) => return Vec::new(),
    };
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|range| (range.start() as u32, range.end() as u32))
            .collect(),
        _ => Vec::new(),
    }
}
