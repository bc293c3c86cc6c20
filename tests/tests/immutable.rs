//! Versions cannot be overwritten: two runs with different run ids race to commit the same
//! version, on a local directory and on S3 (a real `moto_server`). Exactly one wins; the other
//! is refused before it writes anything, and every file of the version is the winner's.

use std::path::Path;
use std::process::{Command, Output};

use e2e_tests::cluster::Cluster;
use e2e_tests::{coordinator, coordinator_command, generated_store, read_json};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Starts both runs at once and waits for both.
fn race(mut first: Command, mut second: Command) -> (Output, Output) {
    let first = first.spawn().expect("starting the first run");
    let second = second.spawn().expect("starting the second run");
    (
        first.wait_with_output().expect("waiting for the first run"),
        second.wait_with_output().expect("waiting for the second run"),
    )
}

fn run_command(mut command: Command, store: &str, run_id: &str) -> Command {
    command
        .args(["run", "--store", store, "--queue", "memory", "--version", "raced"])
        .args(["--run-id", run_id, "--workers", "1", "--partitions", "2", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// One success, one refusal naming the winner's claim; returns the winner's run id.
fn one_winner(outputs: (Output, Output)) -> &'static str {
    let (first, second) = outputs;
    let text = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();
    let (winner, loser, loser_output) = match (first.status.success(), second.status.success()) {
        (true, false) => ("a", "b", second),
        (false, true) => ("b", "a", first),
        (both_ok, _) => panic!(
            "exactly one run may commit the version (both succeeded: {both_ok})\n--- a\n{}\n--- b\n{}",
            text(&first),
            text(&second)
        ),
    };
    let refusal = text(&loser_output);
    assert!(
        refusal.contains(&format!("release raced is claimed by run {winner}")),
        "run {loser} was not refused by the claim:\n{refusal}"
    );
    winner
}

/// Every file under `releases/raced/` of a downloaded or local store is the winner's: the
/// manifest names the winner, each shard and statistics file is the one its manifest lists,
/// `config.json` is the manifest's, and no other file is there.
fn assert_version_is_the_winners(store: &Path, winner: &str) {
    let release = store.join("releases/raced");
    let manifest = read_json(&release.join("manifest.json"));
    assert_eq!(manifest["run_id"], winner);
    let mut expected = vec![
        "manifest.json".to_string(),
        "config.json".to_string(),
        "README.md".to_string(),
    ];
    for variant in ["full", "nontoxic"] {
        for shard in manifest["variants"][variant]["shards"].as_array().expect("shards") {
            let key = shard["key"].as_str().expect("a key");
            let bytes = std::fs::read(store.join(key)).expect("a listed shard exists");
            assert_eq!(sha256_hex(&bytes), shard["sha256"], "{key} is not the winner's shard");
            expected.push(key.trim_start_matches("releases/raced/").to_string());
            if let Some(stats) = shard["stats_key"].as_str() {
                expected.push(stats.trim_start_matches("releases/raced/").to_string());
            }
        }
    }
    let config = std::fs::read(release.join("config.json")).expect("config.json");
    assert_eq!(sha256_hex(&config), manifest["config_sha256"]);
    let card = std::fs::read_to_string(release.join("README.md")).expect("the card");
    assert!(card.contains(winner), "the card is not the winner's");
    let mut found = Vec::new();
    collect(&release, &release, &mut found);
    found.retain(|file| !file.starts_with("charts/"));
    found.sort();
    expected.sort();
    assert_eq!(
        found, expected,
        "files under releases/raced/ that the winner did not write"
    );
}

fn collect(root: &Path, directory: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(directory).expect("listing the release") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            collect(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn two_runs_racing_for_a_version_on_a_local_store_leave_the_winners_files() {
    let (_directory, store) = generated_store(600, 41, Some(2));
    let store_arg = store.to_str().expect("a utf-8 path");
    let outputs = race(
        run_command(coordinator_command(), store_arg, "a"),
        run_command(coordinator_command(), store_arg, "b"),
    );
    let winner = one_winner(outputs);
    assert_version_is_the_winners(&store, winner);

    // The loser cannot take the version later either, and the winner cannot rerun it.
    let again = run_command(coordinator_command(), store_arg, if winner == "a" { "b" } else { "a" })
        .output()
        .expect("running again");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // An amendment to the committed version is refused too, before writing anything.
    let list = store.join("remove.txt");
    std::fs::write(&list, "00000000000000000000000000000000\n").unwrap();
    let amend = coordinator_command()
        .args(["release", "amend", "raced", "--store", store_arg, "--version", "raced"])
        .arg("--remove")
        .arg(&list)
        .output()
        .expect("running amend");
    assert!(!amend.status.success());
    assert_version_is_the_winners(&store, winner);
    // Another version is free to use.
    coordinator(&[
        "run",
        "--store",
        store_arg,
        "--version",
        "other",
        "--workers",
        "1",
        "--quiet",
    ]);
}

#[test]
fn two_runs_racing_for_a_version_on_s3_leave_the_winners_files() {
    let cluster = Cluster::start();
    let (_directory, local) = generated_store(600, 43, Some(2));
    cluster.upload(&local, "raw");
    let store = cluster.store_uri();
    let outputs = race(
        run_command(cluster.coordinator_command(), &store, "a"),
        run_command(cluster.coordinator_command(), &store, "b"),
    );
    let winner = one_winner(outputs);
    let download = tempfile::tempdir().expect("a temporary directory");
    cluster.download("releases/raced/", download.path());
    assert_version_is_the_winners(download.path(), winner);
}
