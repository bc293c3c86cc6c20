//! lingua's n-gram models in a form built for lookups: the 1- to 3-grams of every language
//! merged into one table (one probe answers for all languages), the 4- and 5-grams read in
//! place from the model crates' finite-state maps. Values are lingua's own log-probabilities,
//! bit for bit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use fst::{Automaton, IntoStreamer, Streamer};
use lingua::Language;

/// Which model crate holds each language's data.
macro_rules! model_directories {
    ($($language:ident => $krate:ident, $models:ident, $tests:ident;)*) => {
        fn model_directory(language: Language) -> Option<&'static include_dir::Dir<'static>> {
            match language {
                $(Language::$language => Some(&$krate::$models),)*
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }

        /// The evaluation texts lingua ships with each model (sentences, word pairs, words).
        pub fn test_directory(language: Language) -> Option<&'static include_dir::Dir<'static>> {
            match language {
                $(Language::$language => Some(&$krate::$tests),)*
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }
    };
}

model_directories! {
    Afrikaans => lingua_afrikaans_language_model, AFRIKAANS_MODELS_DIRECTORY, AFRIKAANS_TESTDATA_DIRECTORY;
    Albanian => lingua_albanian_language_model, ALBANIAN_MODELS_DIRECTORY, ALBANIAN_TESTDATA_DIRECTORY;
    Arabic => lingua_arabic_language_model, ARABIC_MODELS_DIRECTORY, ARABIC_TESTDATA_DIRECTORY;
    Armenian => lingua_armenian_language_model, ARMENIAN_MODELS_DIRECTORY, ARMENIAN_TESTDATA_DIRECTORY;
    Azerbaijani => lingua_azerbaijani_language_model, AZERBAIJANI_MODELS_DIRECTORY, AZERBAIJANI_TESTDATA_DIRECTORY;
    Basque => lingua_basque_language_model, BASQUE_MODELS_DIRECTORY, BASQUE_TESTDATA_DIRECTORY;
    Belarusian => lingua_belarusian_language_model, BELARUSIAN_MODELS_DIRECTORY, BELARUSIAN_TESTDATA_DIRECTORY;
    Bengali => lingua_bengali_language_model, BENGALI_MODELS_DIRECTORY, BENGALI_TESTDATA_DIRECTORY;
    Bokmal => lingua_bokmal_language_model, BOKMAL_MODELS_DIRECTORY, BOKMAL_TESTDATA_DIRECTORY;
    Bosnian => lingua_bosnian_language_model, BOSNIAN_MODELS_DIRECTORY, BOSNIAN_TESTDATA_DIRECTORY;
    Bulgarian => lingua_bulgarian_language_model, BULGARIAN_MODELS_DIRECTORY, BULGARIAN_TESTDATA_DIRECTORY;
    Catalan => lingua_catalan_language_model, CATALAN_MODELS_DIRECTORY, CATALAN_TESTDATA_DIRECTORY;
    Chinese => lingua_chinese_language_model, CHINESE_MODELS_DIRECTORY, CHINESE_TESTDATA_DIRECTORY;
    Croatian => lingua_croatian_language_model, CROATIAN_MODELS_DIRECTORY, CROATIAN_TESTDATA_DIRECTORY;
    Czech => lingua_czech_language_model, CZECH_MODELS_DIRECTORY, CZECH_TESTDATA_DIRECTORY;
    Danish => lingua_danish_language_model, DANISH_MODELS_DIRECTORY, DANISH_TESTDATA_DIRECTORY;
    Dutch => lingua_dutch_language_model, DUTCH_MODELS_DIRECTORY, DUTCH_TESTDATA_DIRECTORY;
    English => lingua_english_language_model, ENGLISH_MODELS_DIRECTORY, ENGLISH_TESTDATA_DIRECTORY;
    Esperanto => lingua_esperanto_language_model, ESPERANTO_MODELS_DIRECTORY, ESPERANTO_TESTDATA_DIRECTORY;
    Estonian => lingua_estonian_language_model, ESTONIAN_MODELS_DIRECTORY, ESTONIAN_TESTDATA_DIRECTORY;
    Finnish => lingua_finnish_language_model, FINNISH_MODELS_DIRECTORY, FINNISH_TESTDATA_DIRECTORY;
    French => lingua_french_language_model, FRENCH_MODELS_DIRECTORY, FRENCH_TESTDATA_DIRECTORY;
    Ganda => lingua_ganda_language_model, GANDA_MODELS_DIRECTORY, GANDA_TESTDATA_DIRECTORY;
    Georgian => lingua_georgian_language_model, GEORGIAN_MODELS_DIRECTORY, GEORGIAN_TESTDATA_DIRECTORY;
    German => lingua_german_language_model, GERMAN_MODELS_DIRECTORY, GERMAN_TESTDATA_DIRECTORY;
    Greek => lingua_greek_language_model, GREEK_MODELS_DIRECTORY, GREEK_TESTDATA_DIRECTORY;
    Gujarati => lingua_gujarati_language_model, GUJARATI_MODELS_DIRECTORY, GUJARATI_TESTDATA_DIRECTORY;
    Hebrew => lingua_hebrew_language_model, HEBREW_MODELS_DIRECTORY, HEBREW_TESTDATA_DIRECTORY;
    Hindi => lingua_hindi_language_model, HINDI_MODELS_DIRECTORY, HINDI_TESTDATA_DIRECTORY;
    Hungarian => lingua_hungarian_language_model, HUNGARIAN_MODELS_DIRECTORY, HUNGARIAN_TESTDATA_DIRECTORY;
    Icelandic => lingua_icelandic_language_model, ICELANDIC_MODELS_DIRECTORY, ICELANDIC_TESTDATA_DIRECTORY;
    Indonesian => lingua_indonesian_language_model, INDONESIAN_MODELS_DIRECTORY, INDONESIAN_TESTDATA_DIRECTORY;
    Irish => lingua_irish_language_model, IRISH_MODELS_DIRECTORY, IRISH_TESTDATA_DIRECTORY;
    Italian => lingua_italian_language_model, ITALIAN_MODELS_DIRECTORY, ITALIAN_TESTDATA_DIRECTORY;
    Japanese => lingua_japanese_language_model, JAPANESE_MODELS_DIRECTORY, JAPANESE_TESTDATA_DIRECTORY;
    Kazakh => lingua_kazakh_language_model, KAZAKH_MODELS_DIRECTORY, KAZAKH_TESTDATA_DIRECTORY;
    Korean => lingua_korean_language_model, KOREAN_MODELS_DIRECTORY, KOREAN_TESTDATA_DIRECTORY;
    Latin => lingua_latin_language_model, LATIN_MODELS_DIRECTORY, LATIN_TESTDATA_DIRECTORY;
    Latvian => lingua_latvian_language_model, LATVIAN_MODELS_DIRECTORY, LATVIAN_TESTDATA_DIRECTORY;
    Lithuanian => lingua_lithuanian_language_model, LITHUANIAN_MODELS_DIRECTORY, LITHUANIAN_TESTDATA_DIRECTORY;
    Macedonian => lingua_macedonian_language_model, MACEDONIAN_MODELS_DIRECTORY, MACEDONIAN_TESTDATA_DIRECTORY;
    Malay => lingua_malay_language_model, MALAY_MODELS_DIRECTORY, MALAY_TESTDATA_DIRECTORY;
    Maori => lingua_maori_language_model, MAORI_MODELS_DIRECTORY, MAORI_TESTDATA_DIRECTORY;
    Marathi => lingua_marathi_language_model, MARATHI_MODELS_DIRECTORY, MARATHI_TESTDATA_DIRECTORY;
    Mongolian => lingua_mongolian_language_model, MONGOLIAN_MODELS_DIRECTORY, MONGOLIAN_TESTDATA_DIRECTORY;
    Nynorsk => lingua_nynorsk_language_model, NYNORSK_MODELS_DIRECTORY, NYNORSK_TESTDATA_DIRECTORY;
    Persian => lingua_persian_language_model, PERSIAN_MODELS_DIRECTORY, PERSIAN_TESTDATA_DIRECTORY;
    Polish => lingua_polish_language_model, POLISH_MODELS_DIRECTORY, POLISH_TESTDATA_DIRECTORY;
    Portuguese => lingua_portuguese_language_model, PORTUGUESE_MODELS_DIRECTORY, PORTUGUESE_TESTDATA_DIRECTORY;
    Punjabi => lingua_punjabi_language_model, PUNJABI_MODELS_DIRECTORY, PUNJABI_TESTDATA_DIRECTORY;
    Romanian => lingua_romanian_language_model, ROMANIAN_MODELS_DIRECTORY, ROMANIAN_TESTDATA_DIRECTORY;
    Russian => lingua_russian_language_model, RUSSIAN_MODELS_DIRECTORY, RUSSIAN_TESTDATA_DIRECTORY;
    Serbian => lingua_serbian_language_model, SERBIAN_MODELS_DIRECTORY, SERBIAN_TESTDATA_DIRECTORY;
    Shona => lingua_shona_language_model, SHONA_MODELS_DIRECTORY, SHONA_TESTDATA_DIRECTORY;
    Slovak => lingua_slovak_language_model, SLOVAK_MODELS_DIRECTORY, SLOVAK_TESTDATA_DIRECTORY;
    Slovene => lingua_slovene_language_model, SLOVENE_MODELS_DIRECTORY, SLOVENE_TESTDATA_DIRECTORY;
    Somali => lingua_somali_language_model, SOMALI_MODELS_DIRECTORY, SOMALI_TESTDATA_DIRECTORY;
    Sotho => lingua_sotho_language_model, SOTHO_MODELS_DIRECTORY, SOTHO_TESTDATA_DIRECTORY;
    Spanish => lingua_spanish_language_model, SPANISH_MODELS_DIRECTORY, SPANISH_TESTDATA_DIRECTORY;
    Swahili => lingua_swahili_language_model, SWAHILI_MODELS_DIRECTORY, SWAHILI_TESTDATA_DIRECTORY;
    Swedish => lingua_swedish_language_model, SWEDISH_MODELS_DIRECTORY, SWEDISH_TESTDATA_DIRECTORY;
    Tagalog => lingua_tagalog_language_model, TAGALOG_MODELS_DIRECTORY, TAGALOG_TESTDATA_DIRECTORY;
    Tamil => lingua_tamil_language_model, TAMIL_MODELS_DIRECTORY, TAMIL_TESTDATA_DIRECTORY;
    Telugu => lingua_telugu_language_model, TELUGU_MODELS_DIRECTORY, TELUGU_TESTDATA_DIRECTORY;
    Thai => lingua_thai_language_model, THAI_MODELS_DIRECTORY, THAI_TESTDATA_DIRECTORY;
    Tsonga => lingua_tsonga_language_model, TSONGA_MODELS_DIRECTORY, TSONGA_TESTDATA_DIRECTORY;
    Tswana => lingua_tswana_language_model, TSWANA_MODELS_DIRECTORY, TSWANA_TESTDATA_DIRECTORY;
    Turkish => lingua_turkish_language_model, TURKISH_MODELS_DIRECTORY, TURKISH_TESTDATA_DIRECTORY;
    Ukrainian => lingua_ukrainian_language_model, UKRAINIAN_MODELS_DIRECTORY, UKRAINIAN_TESTDATA_DIRECTORY;
    Urdu => lingua_urdu_language_model, URDU_MODELS_DIRECTORY, URDU_TESTDATA_DIRECTORY;
    Vietnamese => lingua_vietnamese_language_model, VIETNAMESE_MODELS_DIRECTORY, VIETNAMESE_TESTDATA_DIRECTORY;
    Welsh => lingua_welsh_language_model, WELSH_MODELS_DIRECTORY, WELSH_TESTDATA_DIRECTORY;
    Xhosa => lingua_xhosa_language_model, XHOSA_MODELS_DIRECTORY, XHOSA_TESTDATA_DIRECTORY;
    Yoruba => lingua_yoruba_language_model, YORUBA_MODELS_DIRECTORY, YORUBA_TESTDATA_DIRECTORY;
    Zulu => lingua_zulu_language_model, ZULU_MODELS_DIRECTORY, ZULU_TESTDATA_DIRECTORY;
}

/// A bit set over language indices (lingua knows 75 languages).
pub type LanguageSet = u128;

/// Packs an n-gram of at most three characters into a u64: 21 bits a character, zero for
/// absent positions (a word never contains U+0000, so lengths cannot collide).
pub fn pack(chars: &[char]) -> u64 {
    chars
        .iter()
        .enumerate()
        .fold(0, |key, (index, &ch)| key | (u64::from(ch as u32) << (21 * index)))
}

/// Multiplicative hashing for packed keys, folded so the table's bucket bits (the low ones)
/// depend on every character.
#[derive(Default)]
pub struct PackedHasher(u64);

impl Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, value: u64) {
        let product = value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = product ^ (product >> 29);
    }
}

pub type PackedMap<V> = HashMap<u64, V, BuildHasherDefault<PackedHasher>>;

/// Accepts keys of at most three UTF-8 characters, so streaming a model visits only the
/// low-order n-grams and prunes the rest of the automaton.
struct AtMostThreeChars;

impl Automaton for AtMostThreeChars {
    /// Characters started so far, or 4 once the key is too long.
    type State = u8;
    fn start(&self) -> u8 {
        0
    }
    fn is_match(&self, state: &u8) -> bool {
        *state <= 3
    }
    fn can_match(&self, state: &u8) -> bool {
        *state <= 3
    }
    fn accept(&self, state: &u8, byte: u8) -> u8 {
        let starts_character = byte & 0xC0 != 0x80;
        if starts_character {
            (*state + 1).min(4)
        } else {
            *state
        }
    }
}

pub struct Models {
    /// Languages in lingua's order (their `Ord`), which is also lingua's tie-break order.
    pub languages: Vec<Language>,
    /// Per packed 1–3-gram: the range of `entry_languages`/`entry_values` holding the
    /// languages whose model has it, in language-index order.
    low_order: PackedMap<(u32, u32)>,
    entry_languages: Vec<u8>,
    entry_values: Vec<f64>,
    /// Every language's full model, read in place (used for 4- and 5-grams).
    full: Vec<fst::Map<&'static [u8]>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Models")
            .field("languages", &self.languages.len())
            .field("low_order_ngrams", &self.low_order.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no n-gram model is built in for {0}")]
    Missing(Language),
    #[error("the n-gram model of {language} is unreadable: {reason}")]
    Corrupt { language: Language, reason: String },
}

impl Models {
    pub fn load() -> Result<Models, ModelError> {
        let mut languages: Vec<Language> = Language::all().into_iter().collect();
        languages.sort();
        let mut full = Vec::with_capacity(languages.len());
        // (packed n-gram, language, log-probability), grouped by n-gram below.
        let mut gathered: Vec<(u64, u8, f64)> = Vec::with_capacity(1 << 21);
        for (index, &language) in languages.iter().enumerate() {
            let bytes = model_directory(language)
                .and_then(|directory| directory.get_file("ngrams.fst"))
                .map(|file| file.contents())
                .ok_or(ModelError::Missing(language))?;
            let map = fst::Map::new(bytes).map_err(|error| ModelError::Corrupt {
                language,
                reason: error.to_string(),
            })?;
            let mut stream = map.search(AtMostThreeChars).into_stream();
            while let Some((key, bits)) = stream.next() {
                let text = std::str::from_utf8(key).map_err(|error| ModelError::Corrupt {
                    language,
                    reason: error.to_string(),
                })?;
                let chars: Vec<char> = text.chars().collect();
                if chars.is_empty() || chars.len() > 3 {
                    continue;
                }
                gathered.push((pack(&chars), index as u8, f64::from_bits(bits)));
            }
            full.push(map);
        }
        // Sorting by (n-gram, language) keeps each n-gram's languages in index order.
        gathered.sort_unstable_by_key(|&(key, language, _)| (key, language));
        let mut low_order = PackedMap::default();
        let mut entry_languages = Vec::with_capacity(gathered.len());
        let mut entry_values = Vec::with_capacity(gathered.len());
        for group in gathered.chunk_by(|a, b| a.0 == b.0) {
            let start = entry_languages.len() as u32;
            for &(_, language, value) in group {
                entry_languages.push(language);
                entry_values.push(value);
            }
            low_order.insert(group[0].0, (start, entry_languages.len() as u32));
        }
        Ok(Models {
            languages,
            low_order,
            entry_languages,
            entry_values,
            full,
        })
    }

    /// The languages having a 1–3-gram, with their log-probabilities.
    #[inline]
    pub fn low_order(&self, packed: u64) -> (&[u8], &[f64]) {
        match self.low_order.get(&packed) {
            Some(&(start, end)) => (
                &self.entry_languages[start as usize..end as usize],
                &self.entry_values[start as usize..end as usize],
            ),
            None => (&[], &[]),
        }
    }

    /// The languages whose model has a 1–3-gram.
    #[inline]
    pub fn low_order_languages(&self, packed: u64) -> LanguageSet {
        self.low_order(packed)
            .0
            .iter()
            .fold(0, |set, &language| set | (1 << language))
    }

    /// One language's log-probability of any n-gram (used for 4- and 5-grams).
    #[inline]
    pub fn lookup(&self, language: usize, ngram: &str) -> Option<f64> {
        self.full[language].get(ngram).map(f64::from_bits)
    }
}
