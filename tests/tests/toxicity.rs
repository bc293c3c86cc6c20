//! Toxicity through the whole pipeline: the tiny transformer classifier (windows included)
//! fills all seven Detoxify keys of every turn, the flags follow DESIGN §6, and a rerun on the
//! same store takes every score from the cache and gives byte-identical shards.

use std::path::Path;

use toxicity::DETOXIFY_KEYS;

use e2e_tests::{coordinator, generated_store, manifest_counter, read_and_dump_release, read_manifest, shard_digests};

#[test]
fn a_transformer_model_scores_every_turn_and_a_rerun_is_served_from_the_cache() {
    let (dir, store) = generated_store(400, 11, Some(2));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/toxicity/tiny-bert/config.toml");
    let run = |version: &str| {
        coordinator(&[
            "run",
            "--store",
            store.to_str().unwrap(),
            "--version",
            version,
            "--toxicity-config",
            config.to_str().unwrap(),
            "--workers",
            "2",
        ])
    };
    let first = run("tiny-1");
    let summary = String::from_utf8_lossy(&first.stdout);
    assert!(summary.contains("toxicity: split in windows"), "{summary}");
    let manifest = read_manifest(&store, "tiny-1");
    let turns = 2 * manifest_counter(&manifest, &["turns"]);
    let scored = manifest["work"]["toxicity"]["texts_scored"].as_u64().unwrap_or(0);
    let hits = manifest["work"]["toxicity"]["cache_hits"].as_u64().unwrap_or(0);
    assert!(scored > 0, "nothing was scored");
    assert!(manifest["work"]["toxicity"]["split_texts"].as_u64().unwrap_or(0) > 0);

    // Every non-empty turn carries all seven scores and a flag that follows them; an empty turn
    // is not scored (null scores, as the reference stores) and never toxic.
    let dump = dir.path().join("rows.jsonl");
    read_and_dump_release(&store.join("releases/tiny-1"), &dump);
    let (mut toxic_turns, mut toxic_conversations, mut seen_turns) = (0u64, 0u64, 0u64);
    let mut non_empty_turns = 0u64;
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let conversation = row["conversation"].as_array().unwrap();
        let scores = row["detoxify_moderation"].as_array().unwrap();
        assert_eq!(conversation.len(), scores.len());
        let mut any = false;
        for (turn, scores) in conversation.iter().zip(scores) {
            let content = turn["content"].as_str().unwrap();
            if content.is_empty() {
                assert!(scores.is_null(), "an empty turn is not scored: {scores}");
                assert_eq!(turn["toxic"].as_bool(), Some(false));
                seen_turns += 1;
                continue;
            }
            non_empty_turns += 1;
            for key in DETOXIFY_KEYS {
                let score = scores[key]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{key} is null: {scores}"));
                assert!((0.0..=1.0).contains(&score));
            }
            let expected = scores["toxicity"].as_f64().unwrap() > 0.1;
            assert_eq!(
                turn["toxic"].as_bool(),
                Some(expected),
                "turn {}",
                turn["turn_identifier"]
            );
            any |= expected;
            toxic_turns += u64::from(expected);
            seen_turns += 1;
        }
        assert_eq!(row["toxic"].as_bool(), Some(any), "conversation toxic = any toxic turn");
        toxic_conversations += u64::from(any);
    }
    assert_eq!(seen_turns, turns);
    assert!(non_empty_turns < turns, "the generator plants empty turns");
    assert_eq!(
        scored + hits,
        non_empty_turns,
        "{scored} scored + {hits} hits != {non_empty_turns} non-empty turns"
    );
    assert_eq!(toxic_turns, manifest_counter(&manifest, &["toxic_turns"]));
    assert_eq!(
        toxic_conversations,
        manifest_counter(&manifest, &["toxic_conversations"])
    );

    // The rerun scores nothing and releases the same bytes.
    run("tiny-2");
    let again = read_manifest(&store, "tiny-2");
    assert_eq!(
        again["work"]["toxicity"]["texts_scored"].as_u64().unwrap_or(0),
        0,
        "nothing is scored again"
    );
    assert_eq!(again["work"]["toxicity"]["cache_hits"].as_u64(), Some(non_empty_turns));
    assert_eq!(
        again["counters"], manifest["counters"],
        "data counters do not depend on the cache"
    );
    assert_eq!(shard_digests(&again), shard_digests(&manifest));
}

#[test]
fn a_routed_model_flags_each_turn_at_its_languages_threshold_and_the_release_records_the_routes() {
    let (dir, store) = generated_store(300, 13, Some(2));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/toxicity/routed/config.toml");
    let output = coordinator(&[
        "run",
        "--store",
        store.to_str().unwrap(),
        "--version",
        "routed-1",
        "--toxicity-config",
        config.to_str().unwrap(),
        "--workers",
        "2",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest = read_manifest(&store, "routed-1");
    let toxicity = &manifest["fingerprint"]["toxicity"];
    assert!(toxicity["model"].as_str().unwrap().starts_with("routed:"), "{toxicity}");
    let routes = toxicity["routes"].as_array().expect("the manifest records the routes");
    assert_eq!(routes.len(), 2, "{toxicity}");
    assert_eq!(routes[0]["languages"], serde_json::json!(["English"]));
    assert!(routes[0]["model"].as_str().unwrap().starts_with("linear:"));
    assert_eq!(routes[1]["languages"], serde_json::json!([]), "the fallback comes last");
    assert!(routes[1]["model"].as_str().unwrap().starts_with("hashed:"));
    assert_eq!(routes[0]["trained_on"], serde_json::json!(["English"]));
    assert!(
        routes[1]["trained_on"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("German")),
        "{toxicity}"
    );
    let english_threshold = routes[0]["threshold"].as_f64().unwrap();
    let other_threshold = routes[1]["threshold"].as_f64().unwrap();
    assert_ne!(english_threshold, other_threshold);
    let card = std::fs::read_to_string(store.join("releases/routed-1/README.md")).unwrap();
    assert!(card.contains("turns labelled English: `linear:"), "{card}");
    assert!(card.contains("every other language: `hashed:"), "{card}");
    assert!(
        card.contains("(trained on Arabic, Chinese, English, French, German"),
        "{card}"
    );

    let dump = dir.path().join("rows.jsonl");
    read_and_dump_release(&store.join("releases/routed-1"), &dump);
    let (mut english, mut other) = (0u64, 0u64);
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let scores = row["detoxify_moderation"].as_array().unwrap();
        for (turn, scores) in row["conversation"].as_array().unwrap().iter().zip(scores) {
            if turn["content"].as_str().unwrap().is_empty() {
                continue;
            }
            let is_english = turn["language"].as_str() == Some("English");
            let threshold = if is_english { english_threshold } else { other_threshold };
            let score = scores["toxicity"].as_f64().unwrap();
            // Scores are f32 in the model and f64 in the release: compare as the model did.
            let expected = (score as f32) > (threshold as f32);
            assert_eq!(turn["toxic"].as_bool(), Some(expected), "{} {score}", turn["language"]);
            if is_english {
                english += 1;
            } else {
                other += 1;
            }
        }
    }
    assert!(english > 0 && other > 0, "{english} English and {other} other turns");
}
