//! Release management through the coordinator's commands, on the embedded default store: both
//! variants load with pyarrow and `datasets` and their statistics and card equal a
//! recomputation from the shards; verify catches damage; amend rewrites only the shards that
//! held the removed conversations and diff shows exactly those; export, channels, exclusions.

use std::path::Path;
use std::process::Command;

use e2e_tests::{coordinator, coordinator_command, generated_store, read_manifest};

fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", std::env::temp_dir().join("wildchat-tests-hf"))
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn release_command(store: &Path, args: &[&str]) -> std::process::Output {
    coordinator_command()
        .arg("release")
        .args(args)
        .args(["--store", store.to_str().unwrap()])
        .output()
        .expect("running coordinator release")
}

fn shard_sha256s(manifest: &serde_json::Value, variant: &str) -> Vec<String> {
    manifest["variants"][variant]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shard| shard["sha256"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn variants_card_verify_amend_diff_export_channels_and_exclusions() {
    let (_dir, store) = generated_store(1500, 21, None);
    let store_arg = store.to_str().unwrap();
    coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "v1",
        "--partitions",
        "4",
        "--quiet",
    ]);
    let release_dir = store.join("releases/v1");
    let manifest = read_manifest(&store, "v1");
    let full_rows = manifest["variants"]["full"]["rows"].as_u64().unwrap();
    let nontoxic_rows = manifest["variants"]["nontoxic"]["rows"].as_u64().unwrap();
    assert!(
        nontoxic_rows > 0 && nontoxic_rows < full_rows,
        "{nontoxic_rows} of {full_rows}"
    );
    assert_eq!(manifest["format"], "wildchat-release/2");
    assert!(manifest["code_version"].as_str().unwrap().contains("git"));
    assert!(release_dir.join("config.json").exists());
    for chart in ["languages.svg", "countries.svg", "turns.svg"] {
        assert!(release_dir.join("charts").join(chart).exists(), "{chart}");
    }

    // The statistics and the card equal a recomputation from the shards; datasets loads both.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/release_stats.py");
    let report: serde_json::Value = serde_json::from_str(&python(
        &std::fs::read_to_string(&script).unwrap(),
        &[release_dir.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");

    // verify: a sound release passes; a flipped byte and a missing shard are named.
    let verified = release_command(&store, &["verify", "v1"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let shard = release_dir.join("full/part-00001.parquet");
    let original = std::fs::read(&shard).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x01;
    std::fs::write(&shard, &flipped).unwrap();
    let damaged = release_command(&store, &["verify", "v1", "--pii-sample", "0"]);
    assert!(!damaged.status.success());
    let text = String::from_utf8_lossy(&damaged.stdout);
    assert!(
        text.contains("full/part-00001.parquet") && text.contains("sha256"),
        "{text}"
    );
    std::fs::write(&shard, &original).unwrap();
    let missing = release_dir.join("nontoxic/part-00000.parquet");
    let kept = std::fs::read(&missing).unwrap();
    std::fs::remove_file(&missing).unwrap();
    let damaged = release_command(&store, &["verify", "v1", "--pii-sample", "0"]);
    assert!(!damaged.status.success());
    let text = String::from_utf8_lossy(&damaged.stdout);
    assert!(text.contains("nontoxic/part-00000.parquet"), "{text}");
    std::fs::write(&missing, kept).unwrap();

    // amend: 10 conversations of the first full shard; only that shard is rewritten.
    let hashes: Vec<String> = python(
        "import sys, pyarrow.parquet as pq; print('\\n'.join(pq.read_table(sys.argv[1]).column('conversation_hash').to_pylist()[:10]))",
        &[release_dir.join("full/part-00000.parquet").to_str().unwrap()],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(hashes.len(), 10);
    let removal = store.join("takedowns.txt");
    std::fs::write(&removal, format!("# takedown requests\n{}\n", hashes.join("\n"))).unwrap();
    let amended = release_command(
        &store,
        &["amend", "v1", "--remove", removal.to_str().unwrap(), "--version", "v2"],
    );
    assert!(amended.status.success(), "{}", String::from_utf8_lossy(&amended.stderr));
    let manifest_v2 = read_manifest(&store, "v2");
    assert_eq!(manifest_v2["parent"], "v1");
    assert_eq!(
        manifest_v2["variants"]["full"]["rows"].as_u64().unwrap(),
        full_rows - 10
    );
    let (before, after) = (shard_sha256s(&manifest, "full"), shard_sha256s(&manifest_v2, "full"));
    assert_eq!(before.len(), after.len());
    assert_ne!(before[0], after[0], "the shard that held them is rewritten");
    assert_eq!(before[1..], after[1..], "the other shards are carried over unchanged");
    assert_eq!(manifest_v2["amendment"]["rewritten_shards"]["full"], 1);
    let report: serde_json::Value = serde_json::from_str(&python(
        &std::fs::read_to_string(&script).unwrap(),
        &[store.join("releases/v2").to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");

    // diff shows exactly those 10 hashes as removed.
    let diff = release_command(&store, &["diff", "v1", "v2", "--json"]);
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stderr));
    let diff: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    let mut expected = hashes.clone();
    expected.sort();
    assert_eq!(diff["removed"], serde_json::json!(expected));
    assert_eq!(diff["added"], serde_json::json!([]));

    // export for fine-tuning, with filters.
    let exported = store.join("export.jsonl");
    let export = release_command(
        &store,
        &[
            "export",
            "v2",
            "--format",
            "openai-jsonl",
            "--min-turns",
            "2",
            "--output",
            exported.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let lines = std::fs::read_to_string(&exported).unwrap();
    let mut count = 0;
    for line in lines.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let messages = record["messages"].as_array().unwrap();
        assert!(messages.len() >= 4, "at least two exchanges: {line}");
        assert_eq!(messages[0]["role"], "user");
        assert_eq!(messages[1]["role"], "assistant");
        count += 1;
    }
    assert!(count > 0 && count < full_rows, "{count}");

    // channels: promote, promote, rollback; list shows where the channel points.
    for version in ["v1", "v2"] {
        let promoted = release_command(&store, &["promote", version, "--channel", "stable"]);
        assert!(
            promoted.status.success(),
            "{}",
            String::from_utf8_lossy(&promoted.stderr)
        );
    }
    let rolled = release_command(&store, &["rollback", "--channel", "stable"]);
    assert!(rolled.status.success(), "{}", String::from_utf8_lossy(&rolled.stderr));
    let list = release_command(&store, &["list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("channel stable") && text.contains("-> v1 (revision 3"),
        "{text}"
    );

    // exclusion lists are applied before writing, and counted.
    let reserved = store.join("benchmark.txt");
    std::fs::write(&reserved, format!("{}\n{}\n{}\n", hashes[0], hashes[1], hashes[2])).unwrap();
    coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "v3",
        "--partitions",
        "4",
        "--exclude",
        &format!("benchmark={}", reserved.display()),
        "--quiet",
    ]);
    let manifest_v3 = read_manifest(&store, "v3");
    assert_eq!(manifest_v3["variants"]["full"]["rows"].as_u64().unwrap(), full_rows - 3);
    assert_eq!(manifest_v3["counters"]["excluded"]["benchmark"], 3);
}

/// The lean `release-manager` binary answers like `coordinator release`, and neither guesses a
/// store: without `--store` (or WILDCHAT__STORE) both stop and say how to name one.
#[test]
fn release_manager_binary_matches_the_coordinator_and_needs_a_store() {
    let (_dir, store) = generated_store(300, 23, None);
    let store_arg = store.to_str().unwrap();
    coordinator(&["run", "--store", store_arg, "--version", "v1", "--quiet"]);
    let release_manager = |args: &[&str]| {
        Command::new(e2e_tests::binary("release-manager"))
            .args(args)
            .env_remove("WILDCHAT__STORE")
            .output()
            .expect("running release-manager")
    };

    for args in [vec!["list"], vec!["show", "v1"], vec!["diff", "v1", "v1", "--json"]] {
        let mut with_store = args.clone();
        with_store.extend(["--store", store_arg]);
        let lean = release_manager(&with_store);
        assert!(lean.status.success(), "{}", String::from_utf8_lossy(&lean.stderr));
        let coordinator_output = release_command(&store, &args);
        assert!(coordinator_output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&lean.stdout),
            String::from_utf8_lossy(&coordinator_output.stdout),
            "release-manager {args:?} differs from coordinator release {args:?}"
        );
        assert!(!lean.stdout.is_empty(), "{args:?} printed nothing");
    }
    let verified = release_manager(&["verify", "v1", "--store", store_arg]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let no_store = release_manager(&["list"]);
    assert!(!no_store.status.success());
    assert!(
        String::from_utf8_lossy(&no_store.stderr).contains("no store given: pass --store URI"),
        "{}",
        String::from_utf8_lossy(&no_store.stderr)
    );
    let coordinator_no_store = coordinator_command()
        .args(["release", "list"])
        .env_remove("WILDCHAT__STORE")
        .current_dir(&store)
        .output()
        .unwrap();
    assert!(!coordinator_no_store.status.success());
    assert!(String::from_utf8_lossy(&coordinator_no_store.stderr).contains("no store given"));
}
