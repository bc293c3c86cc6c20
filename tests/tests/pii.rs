//! PII redaction through the whole pipeline: the reference policy's run-wide document
//! frequencies (strings in 10 or more conversations, 50 for names, are kept) give the same
//! redactions whether the run has 1 partition or 64, and a strict run redacts every detection.

use std::collections::BTreeMap;
use std::path::Path;

use e2e_tests::{coordinator, manifest_counter, read_and_dump_release, read_manifest};

const ENGLISH: &str = "I would really like some help with the report for my manager about the quarterly sales numbers.";

fn raw_row(id: i64, question: &str) -> String {
    serde_json::json!({
        "id": id,
        "date": format!("2023-05-01 10:{:02}:{:02}.000000", (id / 60) % 60, id % 60),
        "text": {
            "payload": {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": question}]},
            "partial_words": format!("Sure, here is a draft for request number {id} with the numbers you asked for."),
            "model": "gpt-3.5-turbo-0301",
            "headers": {"user-agent": format!("UA {id}"), "x-forwarded-for": "203.0.113.5"},
        }
    })
    .to_string()
}

/// (planted text, how many conversations carry it, expected to be redacted).
const PLANTED: &[(&str, usize, bool)] = &[
    (
        "You can reach me by email at shared.writer@mailbox.org if needed.",
        12,
        false,
    ),
    (
        "You can reach me by email at rare.writer@mailbox.org if needed.",
        9,
        true,
    ),
    ("My phone: +44 20 7946 0958 for questions.", 10, false),
    ("My phone: +44 20 7946 0321 for questions.", 3, true),
    ("Hello, my name is Alice Johnson and I work in sales.", 50, false),
    ("Hello, my name is Robert Miller and I work in sales.", 49, true),
];

/// Writes the raw logs: every planted text in its number of distinct conversations, each
/// conversation's first message different so that the rows spread over the partitions.
fn write_raw(store: &Path) -> BTreeMap<i64, (&'static str, bool)> {
    std::fs::create_dir_all(store.join("raw")).unwrap();
    let mut lines = Vec::new();
    let mut expected = BTreeMap::new();
    let mut id = 1000;
    for (text, conversations, redacted) in PLANTED {
        for copy in 0..*conversations {
            id += 1;
            lines.push(raw_row(id, &format!("{ENGLISH} Request {copy} of {id}. {text}")));
            expected.insert(id, (*text, *redacted));
        }
    }
    std::fs::write(store.join("raw/part-0.jsonl"), lines.join("\n") + "\n").unwrap();
    expected
}

/// turn_identifier -> (user content, user turn redacted flag, conversation redacted flag).
fn user_turns(release: &Path, dump: &Path) -> BTreeMap<i64, (String, bool, bool)> {
    let report = read_and_dump_release(release, dump);
    assert!(report.schema_ok, "{:?}", report.schema_problems);
    assert_eq!(report.hash_mismatches, 0, "conversation_hash is over the redacted text");
    let mut turns = BTreeMap::new();
    for line in std::fs::read_to_string(dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let conversation_redacted = row["redacted"].as_bool().unwrap();
        for turn in row["conversation"].as_array().unwrap() {
            if turn["role"] == "user" {
                turns.insert(
                    turn["turn_identifier"].as_i64().unwrap(),
                    (
                        turn["content"].as_str().unwrap().to_string(),
                        turn["redacted"].as_bool().unwrap(),
                        conversation_redacted,
                    ),
                );
            }
        }
    }
    turns
}

fn run(store: &Path, version: &str, partitions: &str, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--store",
        store.to_str().unwrap(),
        "--version",
        version,
        "--partitions",
        partitions,
        "--workers",
        "2",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    coordinator(&args);
}

#[test]
fn reference_redaction_uses_run_wide_document_frequency_whatever_the_partitioning() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let expected = write_raw(&store);
    run(&store, "one", "1", &[]);
    run(&store, "many", "64", &[]);

    let one = user_turns(&store.join("releases/one"), &dir.path().join("one.jsonl"));
    let many = user_turns(&store.join("releases/many"), &dir.path().join("many.jsonl"));
    assert_eq!(one.len(), expected.len());
    assert_eq!(one, many, "1 and 64 partitions must redact exactly the same strings");

    for (id, (text, redacted)) in &expected {
        let (content, turn_flag, conversation_flag) = &one[id];
        let value_kept = PLANTED_VALUES
            .iter()
            .any(|value| text.contains(value) && content.contains(value));
        assert_eq!(
            !value_kept, *redacted,
            "turn {id}: {text:?} became {content:?} (redaction expected: {redacted})"
        );
        assert_eq!(turn_flag, redacted, "turn {id} flag");
        assert_eq!(conversation_flag, redacted, "conversation of turn {id} flag");
        if *redacted {
            assert!(content.contains("<PRESIDIO_ANONYMIZED_"), "{content}");
        }
    }

    let manifest = read_manifest(&store, "many");
    assert_eq!(manifest_counter(&manifest, &["redacted_turns"]), 9 + 3 + 49);
    assert_eq!(manifest_counter(&manifest, &["pii_redacted", "EMAIL_ADDRESS"]), 9);
    assert_eq!(manifest_counter(&manifest, &["pii_redacted", "PHONE_NUMBER"]), 3);
    assert_eq!(manifest_counter(&manifest, &["pii_redacted", "PERSON"]), 49);
    assert_eq!(manifest["config"]["pii"]["policy"], "reference");
}

const PLANTED_VALUES: &[&str] = &[
    "shared.writer@mailbox.org",
    "rare.writer@mailbox.org",
    "+44 20 7946 0958",
    "+44 20 7946 0321",
    "Alice Johnson",
    "Robert Miller",
];

#[test]
fn strict_policy_masks_every_detection_of_its_types() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let expected = write_raw(&store);
    run(
        &store,
        "strict",
        "4",
        &[
            "--pii-policy",
            "strict",
            "--pii-types",
            "EMAIL_ADDRESS,PHONE_NUMBER",
            "--pii-operator",
            "mask",
        ],
    );
    let turns = user_turns(&store.join("releases/strict"), &dir.path().join("strict.jsonl"));
    for (id, (text, _)) in &expected {
        let (content, flag, _) = &turns[id];
        let is_name = text.contains("my name is");
        assert_eq!(*flag, !is_name, "turn {id}: {content}");
        if is_name {
            assert!(
                content.contains(text),
                "names are not among the strict types: {content}"
            );
        } else {
            assert!(PLANTED_VALUES.iter().all(|value| !content.contains(value)), "{content}");
            assert!(content.contains("****"), "{content}");
        }
    }

    let refused = e2e_tests::coordinator_command()
        .args([
            "run",
            "--store",
            store.to_str().unwrap(),
            "--version",
            "bad",
            "--pii-policy",
            "strict",
            "--pii-types",
            "NAME",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("NAME"), "{stderr}");
}
