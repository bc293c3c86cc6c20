//! Our language labels against plain lingua (all languages, preloaded models) on lingua's own
//! evaluation texts, which ship inside its model crates.

use language::{lingua_test_texts, LanguageDetector, NO_LANGUAGE};
use lingua::{Language, LanguageDetector as Lingua, LanguageDetectorBuilder};

fn lingua_label(lingua: &Lingua, text: &str) -> String {
    lingua
        .detect_language_of(text)
        .map_or(NO_LANGUAGE.to_string(), |language| language.to_string())
}

/// Labels `texts` with both detectors on every core; returns the texts whose labels differ.
fn disagreements<'t>(ours: &LanguageDetector, lingua: &Lingua, texts: &[&'t str]) -> Vec<(&'t str, String, String)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = texts.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = texts
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|&text| {
                            let (expected, actual) = (lingua_label(lingua, text), ours.label(text).to_string());
                            (expected != actual).then_some((text, expected, actual))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect()
    })
}

#[test]
fn labels_equal_plain_linguas_on_its_own_test_sentences() {
    let ours = LanguageDetector::load().unwrap();
    let lingua = LanguageDetectorBuilder::from_all_languages()
        .with_preloaded_language_models()
        .build();
    let mut languages: Vec<Language> = Language::all().into_iter().collect();
    languages.sort();
    // Sentences (long and short texts take different scoring paths) and word pairs (the
    // character rules decide many of them), every third line of each file per language.
    let mut texts = Vec::new();
    for &language in &languages {
        for file in ["sentences.txt", "word-pairs.txt"] {
            let lines = lingua_test_texts(language, file);
            assert!(!lines.is_empty(), "no {file} for {language}");
            texts.extend(lines.into_iter().step_by(3));
        }
    }
    assert!(texts.len() > 40_000, "only {} texts", texts.len());
    let differing = disagreements(&ours, &lingua, &texts);
    let agreement = 1.0 - differing.len() as f64 / texts.len() as f64;
    assert!(
        agreement >= 0.999,
        "agreement {:.4}% on {} texts; first differences: {:?}",
        agreement * 100.0,
        texts.len(),
        &differing[..differing.len().min(10)]
    );
}

#[test]
fn texts_without_letters_are_nolang_and_names_are_title_case() {
    let ours = LanguageDetector::load().unwrap();
    for text in ["", "   ", "\n\t", "12345", "!!! ???", "3.14 + 2 = 5.14", "🙂🙂"] {
        assert_eq!(ours.label(text), NO_LANGUAGE, "{text:?}");
    }
    let lingua = LanguageDetectorBuilder::from_all_languages()
        .with_preloaded_language_models()
        .build();
    for text in [
        "Could you please explain how photosynthesis works?",
        "请帮我写一篇关于环境保护的文章",
        "Напиши мне, пожалуйста, короткое стихотворение о весне и солнце",
        "東京の天気はどうですか",
    ] {
        let label = ours.label(text);
        assert_eq!(label, lingua_label(&lingua, text), "{text:?}");
        let mut chars = label.chars();
        assert!(
            chars.next().is_some_and(char::is_uppercase) && chars.all(char::is_lowercase),
            "{label}"
        );
    }
    assert_eq!(
        ours.label("Could you please explain how photosynthesis works?"),
        "English"
    );
    assert_eq!(ours.label("请帮我写一篇关于环境保护的文章"), "Chinese");
    // The same text gives the same label whether or not it was seen before (the cache).
    let text = "Bonjour, pouvez-vous m'aider à écrire une lettre ?";
    assert_eq!(ours.label(text), ours.label(text));
    assert_eq!(ours.label(text), "French");
}
