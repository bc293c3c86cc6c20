//! The moderation source end to end: a run against a real local endpoint (test-servers) that
//! answers 429 with `Retry-After` and 500s fills `openai_moderation` for every non-empty turn with
//! the endpoint's answers, a flagged turn is toxic, conversations flagged `sexual/minors` are left
//! out of every variant and counted, the manifest and card name the source, and a rerun asks the
//! endpoint nothing and releases the same bytes.

use std::sync::atomic::Ordering;

use e2e_tests::{coordinator, generated_store, manifest_counter, read_and_dump_release, read_manifest, shard_digests};
use moderation::CATEGORIES;
use test_servers::moderation::{expected_answer, ModerationServer, ModerationServerOptions};

#[test]
fn a_moderation_endpoint_fills_openai_moderation_flags_turns_and_excludes_sexual_minors() {
    let (dir, store) = generated_store(300, 17, Some(2));
    let server = ModerationServer::start(ModerationServerOptions {
        rate_limit_every: 5,
        retry_after_ms: Some(50),
        server_error_every: 7,
        ..ModerationServerOptions::default()
    })
    .unwrap();
    let key_file = dir.path().join("moderation-key");
    std::fs::write(&key_file, "sk-test-moderation\n").unwrap();
    let config = dir.path().join("moderation.toml");
    std::fs::write(
        &config,
        format!(
            "kind = \"openai\"\nbase_url = \"{}\"\nmodel = \"omni-moderation-latest\"\napi_key_file = \"{}\"\n\
             batch_size = 16\nconcurrency = 2\nrequests_per_minute = 60000\nmax_attempts = 8\ntimeout_ms = 5000\n",
            server.base_url(),
            key_file.display()
        ),
    )
    .unwrap();
    let run = |version: &str| {
        let output = coordinator(&[
            "run",
            "--store",
            store.to_str().unwrap(),
            "--version",
            version,
            "--moderation-config",
            config.to_str().unwrap(),
            "--workers",
            "2",
        ]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output
    };
    let first = run("mod-1");
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(
        !log.contains("sk-test-moderation"),
        "the api key never reaches a log line"
    );
    let stats = server.stats();
    assert!(
        stats.rate_limited.load(Ordering::SeqCst) > 0,
        "the endpoint rate-limited the run"
    );
    assert!(
        stats.server_errors.load(Ordering::SeqCst) > 0,
        "the endpoint failed some requests"
    );
    assert_eq!(stats.unauthorized.load(Ordering::SeqCst), 0);
    assert!(stats.max_batch.load(Ordering::SeqCst) <= 16);
    let asked = stats.inputs_answered.load(Ordering::SeqCst);

    let manifest = read_manifest(&store, "mod-1");
    let source = format!("openai:omni-moderation-latest@{}", server.base_url());
    assert_eq!(
        manifest["fingerprint"]["moderation"].as_str(),
        Some(source.as_str()),
        "{}",
        manifest["fingerprint"]
    );
    let card = std::fs::read_to_string(store.join("releases/mod-1/README.md")).unwrap();
    assert!(card.contains(&source), "the card names the moderation source");
    let excluded = manifest_counter(&manifest, &["excluded", "sexual_minors"]);
    assert!(
        excluded > 0,
        "about 2 % of turns are flagged sexual/minors by the endpoint"
    );
    assert_eq!(
        manifest["work"]["moderation"]["texts_moderated"].as_u64(),
        Some(asked),
        "each distinct text is asked about once"
    );

    let dump = dir.path().join("rows.jsonl");
    read_and_dump_release(&store.join("releases/mod-1"), &dump);
    let (mut rows, mut moderated_turns, mut flagged_turns) = (0u64, 0u64, 0u64);
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        rows += 1;
        let turns = row["conversation"].as_array().unwrap();
        let answers = row["openai_moderation"].as_array().unwrap();
        let scores = row["detoxify_moderation"].as_array().unwrap();
        assert_eq!(turns.len(), answers.len());
        for ((turn, answer), scores) in turns.iter().zip(answers).zip(scores) {
            let content = turn["content"].as_str().unwrap();
            if content.is_empty() {
                assert!(answer.is_null(), "an empty turn is not moderated");
                continue;
            }
            moderated_turns += 1;
            // Redaction changes released text; the endpoint saw the unredacted turn, so compare
            // only turns that were not redacted.
            if turn["redacted"].as_bool() != Some(true) {
                let expected = moderation::parse_result(&expected_answer(content)).unwrap();
                assert_eq!(answer["flagged"].as_bool(), Some(expected.flagged), "{content}");
                for (index, key) in CATEGORIES.iter().enumerate() {
                    assert_eq!(answer["categories"][key].as_bool(), expected.categories[index], "{key}");
                    assert_eq!(
                        answer["category_scores"][key].as_f64(),
                        expected.category_scores[index],
                        "{key}"
                    );
                }
            }
            assert_ne!(
                answer["categories"]["sexual/minors"].as_bool(),
                Some(true),
                "excluded from every variant"
            );
            assert_ne!(answer["categories"]["sexual_minors"].as_bool(), Some(true));
            let flagged = answer["flagged"].as_bool().unwrap();
            flagged_turns += u64::from(flagged);
            // The default model is routed: each turn flags at its language's model's threshold.
            let toxicity = scores["toxicity"].as_f64().unwrap() as f32;
            let threshold = route_threshold(&manifest, turn["language"].as_str().unwrap());
            assert_eq!(turn["toxic"].as_bool(), Some(flagged || toxicity > threshold));
        }
    }
    assert!(moderated_turns > 0 && flagged_turns > 0);
    assert_eq!(
        rows + excluded,
        manifest_counter(&manifest, &["conversations"]),
        "every conversation is released or counted as excluded"
    );

    // The rerun is answered from the cache: nothing is asked again, the bytes are the same.
    run("mod-2");
    assert_eq!(server.stats().inputs_answered.load(Ordering::SeqCst), asked);
    let again = read_manifest(&store, "mod-2");
    assert_eq!(again["work"]["moderation"]["texts_moderated"].as_u64().unwrap_or(0), 0);
    assert_eq!(shard_digests(&again), shard_digests(&manifest));
    drop(dir);
}

/// The threshold of the toxicity model a turn labelled `language` was routed to, from the
/// manifest's fingerprint (the fallback, listed last, has no languages).
fn route_threshold(manifest: &serde_json::Value, language: &str) -> f32 {
    let routes = manifest["fingerprint"]["toxicity"]["routes"].as_array().unwrap();
    let route = routes
        .iter()
        .find(|route| {
            route["languages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|name| name == language)
        })
        .unwrap_or_else(|| routes.last().unwrap());
    route["threshold"].as_f64().unwrap() as f32
}
