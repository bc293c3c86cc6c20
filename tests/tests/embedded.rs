//! End-to-end runs of the real coordinator binary on the embedded default (local directory
//! store, in-process queue and workers).

use std::io::Write;
use std::path::Path;

use e2e_tests::{
    assert_release_matches_truth, coordinator, generated_store, last_line, manifest_counter as counter,
    read_and_dump_release, read_json, read_manifest, read_release_with_pyarrow_and_datasets, read_truth_conversations,
    shard_digests, TEST_SALT_HEX,
};

#[test]
fn release_equals_the_generators_ground_truth_across_partitions() {
    let (_dir, store) = generated_store(20000, 7, Some(6));
    let store_arg = store.to_str().unwrap();
    let output = coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "v1",
        "--partitions",
        "9",
        "--map-bytes",
        "4000000",
        "--workers",
        "3",
        "--quiet",
    ]);
    let release_dir = store.join("releases/v1");
    assert_eq!(last_line(&output), release_dir.display().to_string());

    let manifest = read_manifest(&store, "v1");
    let shards = manifest["variants"]["full"]["shards"].as_array().unwrap();
    assert!(shards.len() >= 8, "expected at least 8 shards, got {}", shards.len());
    let plan = read_json(&store.join("runs/v1/plan.json"));
    let map_jobs = plan["map_jobs"].as_array().unwrap();
    assert!(map_jobs.len() > 6, "plain objects must be split into byte ranges");

    let report = assert_release_matches_truth(&release_dir, &store);
    assert_eq!(report.shards as usize, shards.len());

    let status = coordinator(&["status", "v1", "--store", store_arg]);
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(status_text.contains("committed"), "{status_text}");

    // A second run with other parallelism and range sizes gives byte-identical shards.
    coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "v2",
        "--partitions",
        "9",
        "--map-bytes",
        "64000000",
        "--workers",
        "1",
        "--quiet",
    ]);
    let again = read_manifest(&store, "v2");
    assert_eq!(shard_digests(&manifest), shard_digests(&again));
    for shard in shards {
        let key = shard["key"].as_str().unwrap();
        let twin = key.replace("releases/v1/", "releases/v2/");
        assert_eq!(
            std::fs::read(store.join(key)).unwrap(),
            std::fs::read(store.join(twin)).unwrap()
        );
    }

    // Releases are immutable.
    let refused = e2e_tests::coordinator_command()
        .args([
            "run",
            "--store",
            store_arg,
            "--version",
            "v1",
            "--run-id",
            "other",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
}

fn raw_row(id: i64, headers: serde_json::Value, messages: serde_json::Value) -> String {
    serde_json::json!({
        "id": id,
        "date": format!("2023-05-01 10:00:{:02}.000000", id % 60),
        "text": {
            "payload": {"model": "gpt-3.5-turbo", "messages": messages},
            "partial_words": format!("reply number {id}"),
            "model": "gpt-3.5-turbo-0301",
            "headers": headers,
        }
    })
    .to_string()
}

#[test]
fn bad_input_is_quarantined_by_reason_and_the_run_completes() {
    let (_dir, store) = generated_store(300, 3, None);
    let store_arg = store.to_str().unwrap();
    let generated = read_json(&store.join("truth/summary.json"));

    let good_headers = serde_json::json!({"user-agent": "UA", "x-forwarded-for": "203.0.113.5"});
    let one_user = |text: &str| serde_json::json!([{"role": "user", "content": text}]);
    let lines = [
        raw_row(900_001, good_headers.clone(), one_user("a fine question")),
        "this is not json {".to_string(),
        raw_row(
            900_002,
            serde_json::Value::String(
                "{'user-agent': __import__('os').system('x'), 'x-forwarded-for': '1.2.3.4'}".into(),
            ),
            one_user("evil headers"),
        ),
        raw_row(
            900_003,
            good_headers.clone(),
            serde_json::json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}]),
        ),
        raw_row(
            900_004,
            serde_json::json!({"user-agent": "UA"}),
            one_user("no forwarded header"),
        ),
        // A lone surrogate escape, which Rust strings cannot hold: dropped and counted.
        raw_row(900_005, good_headers.clone(), one_user("LONE")).replace("LONE", "a\\ud800b"),
        // Not an address: kept as the reference kept it, hashed as logged, no place, counted.
        raw_row(
            900_006,
            serde_json::json!({"user-agent": "UA", "x-forwarded-for": "unknown, 10.0.0.1"}),
            one_user("a question from behind a proxy"),
        ),
    ];
    std::fs::write(store.join("raw/zz-bad.jsonl"), lines.join("\n") + "\n").unwrap();

    // A gzip object cut in the middle: the rows before the cut are kept.
    let mut encoder = flate2_free_gzip(&lines[0]);
    let cut = encoder.len() * 2 / 3;
    encoder.truncate(cut);
    std::fs::write(store.join("raw/zz-truncated.jsonl.gz"), encoder).unwrap();

    let output = coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "bad",
        "--partitions",
        "4",
        "--quiet",
    ]);
    let summary_text = String::from_utf8_lossy(&output.stdout).to_string();
    let manifest = read_manifest(&store, "bad");
    let generated_count = |reason: &str| generated["quarantined"][reason].as_u64().unwrap_or(0);
    for (reason, extra) in [
        ("invalid_json", 1),
        ("bad_headers", 1),
        ("non_alternating_roles", 1),
        ("missing_client_ip", 1),
        ("truncated_object", 1),
    ] {
        assert_eq!(
            counter(&manifest, &["quarantined", reason]),
            generated_count(reason) + extra,
            "quarantined {reason}"
        );
        assert!(summary_text.contains(reason), "summary lacks {reason}:\n{summary_text}");
    }
    assert!(counter(&manifest, &["conversations"]) > 0);
    assert_eq!(counter(&manifest, &["lone_surrogates_dropped"]), 1);
    assert!(counter(&manifest, &["geoip", "not_an_address"]) >= 1);
    assert!(summary_text.contains("not_an_address"), "{summary_text}");

    // Every quarantined row is kept with its object, line and reason.
    let mut records = Vec::new();
    for key in manifest["quarantine"].as_array().unwrap() {
        let compressed = std::fs::read(store.join(key.as_str().unwrap())).unwrap();
        let plain = zstd::stream::decode_all(&compressed[..]).unwrap();
        for line in plain.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
            records.push(serde_json::from_slice::<serde_json::Value>(line).unwrap());
        }
    }
    let bad_object: Vec<(u64, String)> = records
        .iter()
        .filter(|record| record["object"] == "raw/zz-bad.jsonl")
        .map(|record| {
            (
                record["line_in_range"].as_u64().unwrap(),
                record["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        bad_object,
        vec![
            (2, "invalid_json".to_string()),
            (3, "bad_headers".to_string()),
            (4, "non_alternating_roles".to_string()),
            (5, "missing_client_ip".to_string())
        ]
    );
    assert!(records
        .iter()
        .any(|record| record["object"] == "raw/zz-bad.jsonl" && record["byte_length"].as_u64() > Some(0)));
    // A record leads to its line without copying it: object, line and byte range; no content.
    let bad_bytes = std::fs::read(store.join("raw/zz-bad.jsonl")).unwrap();
    let bad_lines: Vec<&[u8]> = bad_bytes.split(|byte| *byte == b'\n').collect();
    for record in records.iter().filter(|record| record["object"] == "raw/zz-bad.jsonl") {
        assert!(
            record.get("raw").is_none(),
            "a quarantine record copies the row: {record}"
        );
        let start = record["byte_offset"].as_u64().unwrap() as usize;
        let end = start + record["byte_length"].as_u64().unwrap() as usize;
        let line = record["line_in_range"].as_u64().unwrap() as usize;
        assert_eq!(&bad_bytes[start..end], bad_lines[line - 1], "record {record}");
    }
    assert!(records
        .iter()
        .any(|record| record["object"] == "raw/zz-truncated.jsonl.gz" && record["reason"] == "truncated_object"));
}

/// Gzip without pulling flate2 into the tests: the system `gzip` tool.
fn flate2_free_gzip(text: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    let mut stdin = child.stdin.take().unwrap();
    let body: String = (0..200).map(|_| format!("{text}\n")).collect();
    stdin.write_all(body.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap().stdout
}

#[test]
fn demo_release_loads_with_pyarrow_and_datasets_and_leaks_no_ip_or_salt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo");
    let output = coordinator(&[
        "demo",
        "--conversations",
        "1500",
        "--store",
        store.to_str().unwrap(),
        "--log",
        "info",
    ]);
    let release_dir = std::path::PathBuf::from(last_line(&output));
    assert!(release_dir.starts_with(&store), "{}", release_dir.display());
    assert!(release_dir.join("manifest.json").exists());
    let report = read_release_with_pyarrow_and_datasets(&release_dir);
    assert!(report.schema_ok, "{:?}", report.schema_problems);
    assert_eq!(report.rows as usize, read_truth_conversations(&store).len());
    assert_eq!(report.datasets_rows, Some(report.rows), "datasets loads every row");
    assert_eq!(
        report.hashed_ip_ok, report.user_turns,
        "every user turn has a salted ip hash"
    );
    assert!(
        report.with_country * 10 >= report.user_turns * 9,
        "the default GeoLite2 database locates most addresses: {} of {}",
        report.with_country,
        report.user_turns
    );

    // No raw IP and not the salt in the release, the manifest, the summary or the logs.
    let dump = dir.path().join("release.jsonl");
    read_and_dump_release(&release_dir, &dump);

    // Every non-empty turn is scored by the default (routed) model and flagged; the demo reports
    // how many planted toxic turns it flags.
    let (mut turns, mut toxic) = (0, 0);
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let conversation = row["conversation"].as_array().unwrap();
        let scores = row["detoxify_moderation"].as_array().unwrap();
        assert_eq!(conversation.len(), scores.len());
        for (turn, scores) in conversation.iter().zip(scores) {
            if turn["content"].as_str().is_some_and(str::is_empty) {
                // Not scored, as the reference stores an empty turn.
                assert!(scores.is_null(), "an empty turn has scores: {scores}");
                assert_eq!(turn["toxic"], false);
                continue;
            }
            assert!(scores["toxicity"].is_f64(), "a turn without a toxicity score: {scores}");
            // The default model routes English turns to the English model (toxicity only) and the
            // others to the multilingual model (which also scores insult); neither was trained
            // on severe_toxicity, so that key stays null.
            let english = turn["language"] == "English";
            assert_eq!(scores["insult"].is_null(), english, "{}: {scores}", turn["language"]);
            assert!(scores["severe_toxicity"].is_null(), "{scores}");
            assert!(turn["toxic"].is_boolean());
            turns += 1;
            toxic += usize::from(turn["toxic"] == true);
        }
        assert!(row["toxic"].is_boolean());
    }
    assert!(toxic > 0 && toxic * 5 < turns, "{toxic} of {turns} turns toxic");
    let logs = String::from_utf8_lossy(&output.stderr);
    let reported = logs
        .lines()
        .find(|line| line.contains("planted toxic turns are flagged toxic"))
        .unwrap_or_else(|| panic!("the demo reports planted toxic turns:\n{logs}"));
    assert!(reported.starts_with("demo: "), "{reported}");
    let share = logs
        .lines()
        .find(|line| line.starts_with("demo: ") && line.ends_with("%) are flagged toxic"))
        .unwrap_or_else(|| panic!("the demo reports the flagged share:\n{logs}"));
    let numbers: Vec<usize> = share
        .replace(',', "")
        .split(|character: char| !character.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    assert_eq!(numbers[0], toxic, "{share}");
    assert!(numbers[1] >= turns, "{share}: every scored turn is counted");
    // Planted real email addresses are redacted (a few sit in turns of languages the reference
    // policy does not analyse); planted placeholder addresses are all kept.
    let emails = logs
        .lines()
        .find(|line| line.starts_with("demo: planted EMAIL_ADDRESS: "))
        .unwrap_or_else(|| panic!("the demo reports planted emails:\n{logs}"));
    let numbers: Vec<u64> = emails
        .split(|character: char| !character.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    let (redacted, real) = (numbers[0], numbers[1]);
    assert!(real > 10 && redacted * 10 >= real * 8, "{emails}");
    let (kept, placeholders) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
    assert_eq!(kept, placeholders, "{emails}");
    assert!(
        row_count_with(&dump, "<PRESIDIO_ANONYMIZED_EMAIL_ADDRESS>") > 0,
        "redacted turns carry the replacement text"
    );
    let (ips, fingerprints) = e2e_tests::raw_secrets(&store);
    assert!(ips.len() > 100, "the input has many addresses");
    assert!(fingerprints.len() > 10, "the input has many devices");
    let texts = [
        ("release rows", std::fs::read_to_string(&dump).unwrap()),
        (
            "manifest",
            std::fs::read_to_string(release_dir.join("manifest.json")).unwrap(),
        ),
        ("stdout", String::from_utf8_lossy(&output.stdout).to_string()),
        ("logs", String::from_utf8_lossy(&output.stderr).to_string()),
    ];
    assert!(
        texts[3].1.contains("row quarantined"),
        "the logs were captured at info level"
    );
    for (name, text) in &texts {
        assert!(
            !text.to_lowercase().contains(TEST_SALT_HEX),
            "the salt appears in the {name}"
        );
        let leaked: Vec<&str> = e2e_tests::ip_like_tokens(text)
            .filter(|token| ips.contains(*token))
            .take(5)
            .collect();
        assert!(leaked.is_empty(), "raw ips appear in the {name}: {leaked:?}");
    }
    // Store-wide: after the run, nothing outside raw/ holds a raw IP, a device fingerprint or
    // the salt (the run's private intermediates were deleted with the commit).
    let found = e2e_tests::private_data_outside_raw(&store, &ips, &fingerprints, TEST_SALT_HEX);
    assert!(found.is_empty(), "private data outside raw/: {found:?}");
    for folder in ["map", "partitions"] {
        let run_folder = store.join("runs").join(release_dir.file_name().unwrap()).join(folder);
        assert_eq!(files_under(&run_folder), 0, "runs/<run>/{folder} outlived the run");
    }
}

/// Files (not directories: the local store leaves empty ones) under `directory`.
fn files_under(directory: &Path) -> usize {
    std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                1
            }
        })
        .sum()
}

fn row_count_with(dump: &std::path::Path, needle: &str) -> usize {
    std::fs::read_to_string(dump)
        .unwrap()
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

#[test]
fn a_killed_run_resumes_without_redoing_finished_jobs_and_gives_the_same_release() {
    let (_dir, store) = generated_store(6000, 11, Some(3));
    let store_arg = store.to_str().unwrap();
    let common = [
        "--partitions",
        "8",
        "--map-bytes",
        "1000000",
        "--workers",
        "1",
        "--quiet",
    ];

    let mut child = e2e_tests::coordinator_command()
        .args(["run", "--store", store_arg, "--version", "resumed"])
        .args(common)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some, but not all, map jobs have recorded completion.
    let map_dir = store.join("runs/resumed/map");
    let finished_jobs = || {
        std::fs::read_dir(&map_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().join("_SUCCESS.json").exists())
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while finished_jobs() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished_before_restart = finished_jobs();
    assert!(finished_before_restart >= 2, "the run never got going");
    let plan = read_json(&store.join("runs/resumed/plan.json"));
    assert!(
        finished_before_restart < plan["map_jobs"].as_array().unwrap().len(),
        "the run finished before it could be killed; make the input larger"
    );
    let marker = map_dir.join("o00000-b000000000000/_SUCCESS.json");
    let marker_written = std::fs::metadata(&marker).unwrap().modified().unwrap();

    // Kept, so that the markers can be looked at after the commit.
    let output = coordinator(
        &[
            &[
                "run",
                "--store",
                store_arg,
                "--version",
                "resumed",
                "--keep-intermediates",
            ][..],
            &common[..],
        ]
        .concat(),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("resumed"));
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        marker_written,
        "a finished job was redone"
    );

    coordinator(&[&["run", "--store", store_arg, "--version", "clean"][..], &common[..]].concat());
    // By default the private intermediates go with the commit; the plan and quarantine stay.
    for folder in ["map", "partitions", "pii", "shards"] {
        assert_eq!(
            files_under(&store.join("runs/clean").join(folder)),
            0,
            "runs/clean/{folder} was left"
        );
    }
    assert!(store.join("runs/clean/plan.json").is_file());
    // The kept run's intermediates are there until `runs gc`, which removes them.
    let listed = String::from_utf8_lossy(&coordinator(&["runs", "list", "--store", store_arg]).stdout).into_owned();
    let line = |run: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(run))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("resumed").contains("private intermediates:"), "{listed}");
    assert!(line("clean").contains("no private intermediates"), "{listed}");
    // The store-wide scan sees the kept fragments' raw IPs and fingerprints, and nothing once
    // they are collected.
    let (ips, fingerprints) = e2e_tests::raw_secrets(&store);
    let found = e2e_tests::private_data_outside_raw(&store, &ips, &fingerprints, TEST_SALT_HEX);
    assert!(
        found.iter().any(|finding| finding.starts_with("runs/resumed/map/")),
        "{found:?}"
    );
    let collected = String::from_utf8_lossy(&coordinator(&["runs", "gc", "--store", store_arg]).stdout).into_owned();
    assert!(collected.contains("run resumed: deleted"), "{collected}");
    assert_eq!(files_under(&map_dir), 0);
    let found = e2e_tests::private_data_outside_raw(&store, &ips, &fingerprints, TEST_SALT_HEX);
    assert!(found.is_empty(), "{found:?}");
    let shards = |version: &str| -> Vec<String> {
        read_manifest(&store, version)["variants"]["full"]["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|shard| shard["sha256"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(shards("resumed"), shards("clean"));
    let resumed = read_manifest(&store, "resumed");
    let clean = read_manifest(&store, "clean");
    assert_eq!(
        resumed["counters"], clean["counters"],
        "counters are not double counted"
    );
}
