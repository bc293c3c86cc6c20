//! Language labels in a real release: every turn's label equals plain lingua's (all
//! languages, preloaded models) on the turn text, and each conversation's label is its most
//! frequent turn label.

use std::collections::HashMap;

use e2e_tests::{coordinator, generated_store, read_and_dump_release};
use lingua::LanguageDetectorBuilder;

#[test]
fn release_labels_agree_with_plain_lingua_on_generated_turns() {
    let (dir, store) = generated_store(8_000, 11, Some(3));
    let store_arg = store.to_str().unwrap();
    coordinator(&["run", "--store", store_arg, "--version", "v1", "--quiet"]);
    let dump = dir.path().join("rows.jsonl");
    read_and_dump_release(&store.join("releases/v1"), &dump);

    let mut turns: Vec<(String, String)> = Vec::new();
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels: Vec<String> = row["conversation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|turn| {
                let label = turn["language"]
                    .as_str()
                    .expect("every turn has a language")
                    .to_string();
                turns.push((turn["content"].as_str().unwrap().to_string(), label.clone()));
                label
            })
            .collect();
        // Most frequent turn label, ties to the first.
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for label in &labels {
            *counts.entry(label.as_str()).or_default() += 1;
        }
        let best = counts.values().copied().max().unwrap();
        let expected = labels.iter().find(|label| counts[label.as_str()] == best).unwrap();
        assert_eq!(
            row["language"].as_str(),
            Some(expected.as_str()),
            "conversation language"
        );
    }
    assert!(turns.len() >= 20_000, "only {} turns", turns.len());
    // Plain lingua costs milliseconds a turn: compare an even sample of about 22k turns.
    let stride = (turns.len() / 22_000).max(1);
    let turns: Vec<(String, String)> = turns.into_iter().step_by(stride).collect();

    let lingua = LanguageDetectorBuilder::from_all_languages()
        .with_preloaded_language_models()
        .build();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = turns.len().div_ceil(threads);
    let differing: Vec<(String, String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = turns
            .chunks(chunk)
            .map(|part| {
                let lingua = &lingua;
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|(text, label)| {
                            let expected = lingua
                                .detect_language_of(text.as_str())
                                .map_or("Nolang".to_string(), |language| language.to_string());
                            (&expected != label).then(|| (text.chars().take(80).collect(), expected, label.clone()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect()
    });
    let agreement = 1.0 - differing.len() as f64 / turns.len() as f64;
    assert!(
        agreement >= 0.999,
        "agreement {:.4}% on {} turns; first differences: {:?}",
        agreement * 100.0,
        turns.len(),
        &differing[..differing.len().min(10)]
    );
    let labelled: std::collections::HashSet<&str> = turns.iter().map(|(_, label)| label.as_str()).collect();
    assert!(
        labelled.len() >= 10,
        "generated data spans many languages: {labelled:?}"
    );
}
