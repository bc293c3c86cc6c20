//! The language stage: a label per turn, identical to lingua's (all languages, preloaded models, top
//! candidate) but computed from a lookup-friendly form of lingua's own models: the rules and
//! the scoring are lingua's, step for step; only the data structures differ. See
//! `benches/language.rs` for the speed-up and `tests/language_agreement.rs` for the agreement.

mod models;
mod rules;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use lingua::Language;
use regex::Regex;

pub use models::ModelError;
use models::{pack, LanguageSet, Models, PackedMap};
use rules::{RuleOutcome, Rules};

/// The label of a text with no letters to go by (empty, whitespace, digits, symbols) or on
/// which the top two languages tie.
pub const NO_LANGUAGE: &str = "Nolang";

/// The detector and its models as run fingerprints and release cards name them. The pins in
/// this crate's Cargo.toml must say the same (a test checks).
pub const DETECTOR_VERSION: &str = "lingua 1.8.0, all languages, language models 1.3.0";

/// Texts at least this many letters long are scored on trigrams only (lingua's threshold).
const LONG_TEXT_CHARACTERS: usize = 120;

/// Texts up to this many bytes are remembered: short prompts ("continue", "hi") repeat a lot.
const CACHED_TEXT_BYTES: usize = 256;
const CACHE_ENTRIES: usize = 200_000;

/// lingua's word pattern: runs of one script's letters; Han, Hiragana and Katakana letters
/// count as one word each.
static WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\p{Bengali}+|\p{Devanagari}+|\p{Gujarati}+|\p{Gurmukhi}+|\p{Han}|\p{Hangul}+|\p{Hiragana}|\p{Katakana}|\p{Tamil}+|\p{Telugu}+|\p{Thai}+|\p{L}+",
    )
    .expect("the word pattern is valid")
});

pub struct LanguageDetector {
    models: Models,
    rules: Rules,
    names: Vec<String>,
    cache: Mutex<HashMap<String, Option<u8>>>,
}

impl std::fmt::Debug for LanguageDetector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LanguageDetector")
            .field("models", &self.models)
            .finish()
    }
}

impl LanguageDetector {
    /// Builds the lookup tables from the models compiled into the binary (about a second).
    pub fn load() -> Result<LanguageDetector, ModelError> {
        let models = Models::load()?;
        let rules = Rules::new(&models.languages);
        let names = models.languages.iter().map(|language| language.to_string()).collect();
        Ok(LanguageDetector {
            models,
            rules,
            names,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The release label of a text: the language's English name (`English`, `Chinese`), or
    /// [`NO_LANGUAGE`].
    pub fn label(&self, text: &str) -> &str {
        match self.detect_index(text) {
            Some(index) => &self.names[index],
            None => NO_LANGUAGE,
        }
    }

    /// What lingua's `detect_language_of` returns for `text`.
    pub fn detect(&self, text: &str) -> Option<Language> {
        self.detect_index(text).map(|index| self.models.languages[index])
    }

    fn detect_index(&self, text: &str) -> Option<usize> {
        if text.len() > CACHED_TEXT_BYTES {
            return self.compute(text);
        }
        if let Some(hit) = self.cache.lock().ok().and_then(|cache| cache.get(text).copied()) {
            return hit.map(usize::from);
        }
        let detected = self.compute(text);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(text.to_string(), detected.map(|index| index as u8));
        }
        detected
    }

    fn compute(&self, text: &str) -> Option<usize> {
        let lowercase = text.trim().to_lowercase();
        let words: Vec<&str> = WORDS.find_iter(&lowercase).map(|found| found.as_str()).collect();
        if words.is_empty() {
            return None;
        }
        let candidates = match self.rules.apply(&words) {
            RuleOutcome::Decided(language) => return Some(language),
            RuleOutcome::Candidates(candidates) => candidates,
        };
        let words: Vec<Vec<char>> = words.iter().map(|word| word.chars().collect()).collect();
        let character_count: usize = words.iter().map(Vec::len).sum();
        let orders = if character_count >= LONG_TEXT_CHARACTERS {
            3..=3
        } else {
            1..=5
        };

        // Per order: each candidate's summed log-probability (kept only when below zero, as
        // lingua keeps it), and for unigrams how many of them each candidate knows.
        let languages = self.models.languages.len();
        let mut order_sums: Vec<Vec<Option<f64>>> = Vec::new();
        let mut unigram_hits: Option<Vec<u32>> = None;
        let mut four_grams = FourGrams::new();
        for order in orders {
            if character_count < order {
                continue;
            }
            let mut sums = vec![0.0f64; languages];
            let mut hits = vec![0u32; languages];
            self.score_order(&words, order, candidates, &mut four_grams, &mut sums, &mut hits);
            if order == 1 {
                unigram_hits = Some(hits);
            }
            order_sums.push(
                sums.into_iter()
                    .enumerate()
                    .map(|(language, sum)| (candidates & (1 << language) != 0 && sum < 0.0).then_some(sum))
                    .collect(),
            );
        }

        let mut probabilities: Vec<(usize, f64)> = Vec::new();
        for language in set_members(candidates) {
            let mut sum: f64 = order_sums.iter().map(|sums| sums[language].unwrap_or(0.0)).sum();
            if let Some(hits) = &unigram_hits {
                if hits[language] > 0 {
                    sum /= f64::from(hits[language]);
                }
            }
            if sum != 0.0 {
                probabilities.push((language, sum.exp()));
            }
        }
        if probabilities.is_empty() {
            return None;
        }
        let denominator: f64 = probabilities.iter().map(|(_, probability)| probability).sum();
        if denominator == 0.0 {
            // Every exponent underflowed (long texts): lingua takes the best log-probability
            // of the first scored order.
            let first = order_sums.first()?;
            return first
                .iter()
                .enumerate()
                .filter_map(|(language, sum)| sum.map(|sum| (language, sum)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(language, _)| language);
        }
        // Top candidate over all languages (the rest at 0.0), ties to the earlier language;
        // no answer when the first two are equal.
        let mut ranked: Vec<(usize, f64)> = probabilities
            .iter()
            .map(|&(language, probability)| (language, probability / denominator))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (best, best_value) = ranked[0];
        let second_value = ranked.get(1).map_or(0.0, |&(_, value)| value);
        if (best_value - second_value).abs() < f64::EPSILON {
            return None;
        }
        Some(best)
    }

    /// Sums, per candidate language, the log-probability of each distinct n-gram of the text,
    /// backing off to its shorter prefixes where the language lacks it (lingua's scoring).
    fn score_order<'w>(
        &self,
        words: &'w [Vec<char>],
        order: usize,
        candidates: LanguageSet,
        four_grams: &mut FourGrams<'w>,
        sums: &mut [f64],
        hits: &mut [u32],
    ) {
        let mut tally = Tally { sums, hits };
        if order <= 3 {
            let mut distinct: PackedMap<()> = PackedMap::default();
            for word in words {
                for window in word.windows(order) {
                    distinct.insert(pack(window), ());
                }
            }
            let masks: [u64; 3] = [(1 << 21) - 1, (1 << 42) - 1, (1 << 63) - 1];
            for &key in distinct.keys() {
                let mut remaining = candidates;
                for prefix in (1..=order).rev() {
                    tally.low_order(&self.models, &mut remaining, key & masks[prefix - 1]);
                    if remaining == 0 {
                        break;
                    }
                }
            }
            return;
        }
        let mut distinct: Vec<&[char]> = words.iter().flat_map(|word| word.windows(order)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for ngram in distinct {
            let mut remaining = candidates;
            if order == 4 {
                let found = self.look_up_four_gram(ngram, candidates);
                for &(language, value) in &found {
                    tally.add(&mut remaining, usize::from(language), value);
                }
                four_grams.insert(ngram, found);
            } else {
                // A language knows a 5-gram only if it knows both 4-grams inside it, and the
                // text's 4-grams were all looked up in the pass before.
                let prefix = four_grams.get(&ngram[..4]).map_or(&[][..], Vec::as_slice);
                let suffix = four_grams.get(&ngram[1..]).map_or(&[][..], Vec::as_slice);
                let possible = set_of(prefix) & set_of(suffix) & candidates;
                if possible != 0 {
                    let text: String = ngram.iter().collect();
                    for language in set_members(possible) {
                        if let Some(value) = self.models.lookup(language, &text) {
                            tally.add(&mut remaining, language, value);
                        }
                    }
                }
                for &(language, value) in prefix {
                    if remaining & (1 << language) != 0 {
                        tally.add(&mut remaining, usize::from(language), value);
                    }
                }
            }
            for length in (1..=3).rev() {
                if remaining == 0 {
                    break;
                }
                tally.low_order(&self.models, &mut remaining, pack(&ngram[..length]));
            }
        }
    }

    /// The candidate languages knowing a 4-gram, with its log-probability in each. A language
    /// can only know it if it knows both trigrams inside it (the models count the n-grams of
    /// one corpus), so only those languages are looked up.
    fn look_up_four_gram(&self, ngram: &[char], candidates: LanguageSet) -> Vec<(u8, f64)> {
        let possible = candidates
            & self.models.low_order_languages(pack(&ngram[..3]))
            & self.models.low_order_languages(pack(&ngram[1..]));
        if possible == 0 {
            return Vec::new();
        }
        let text: String = ngram.iter().collect();
        set_members(possible)
            .filter_map(|language| self.models.lookup(language, &text).map(|value| (language as u8, value)))
            .collect()
    }
}

/// Per-language sums and hit counts of the order being scored.
struct Tally<'a> {
    sums: &'a mut [f64],
    hits: &'a mut [u32],
}

impl Tally<'_> {
    /// Credits `language` with an n-gram's value; it needs no shorter prefix any more.
    #[inline]
    fn add(&mut self, remaining: &mut LanguageSet, language: usize, value: f64) {
        self.sums[language] += value;
        self.hits[language] += 1;
        *remaining &= !(1 << language);
    }

    /// Credits every remaining language that knows the packed 1–3-gram.
    #[inline]
    fn low_order(&mut self, models: &Models, remaining: &mut LanguageSet, packed: u64) {
        let (langs, values) = models.low_order(packed);
        for (&language, &value) in langs.iter().zip(values) {
            if *remaining & (1 << language) != 0 {
                self.add(remaining, usize::from(language), value);
            }
        }
    }
}

/// The 4-grams of the text being scored, with the languages that know them.
type FourGrams<'w> = HashMap<&'w [char], Vec<(u8, f64)>>;

fn set_of(found: &[(u8, f64)]) -> LanguageSet {
    found.iter().fold(0, |set, &(language, _)| set | (1 << language))
}

fn set_members(set: LanguageSet) -> impl Iterator<Item = usize> {
    let mut pending = set;
    std::iter::from_fn(move || {
        if pending == 0 {
            return None;
        }
        let member = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        Some(member)
    })
}

/// lingua's own evaluation texts for `language` from `file` (`sentences.txt`,
/// `word-pairs.txt`, `single-words.txt`), one per line.
pub fn lingua_test_texts(language: Language, file: &str) -> Vec<&'static str> {
    models::test_directory(language)
        .and_then(|directory| directory.get_file(file))
        .and_then(|file| file.contents_utf8())
        .map(|contents| contents.lines().filter(|line| !line.trim().is_empty()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_detector_version_names_the_pinned_crates() {
        let manifest = include_str!("../Cargo.toml");
        let lingua = super::DETECTOR_VERSION
            .split(',')
            .next()
            .and_then(|part| part.strip_prefix("lingua "))
            .unwrap();
        assert!(
            manifest.contains(&format!("lingua = \"={lingua}\"")),
            "lingua {lingua} is not the pinned version"
        );
        let models = super::DETECTOR_VERSION.rsplit(' ').next().unwrap();
        let pins: Vec<&str> = manifest.lines().filter(|line| line.starts_with("lingua-")).collect();
        assert!(!pins.is_empty());
        for pin in pins {
            assert!(
                pin.ends_with(&format!("\"={models}\"")),
                "{pin} is not model version {models}"
            );
        }
    }
}
