//! Helpers shared by the end-to-end tests: locating the built binaries, running them, and
//! reading releases and ground truth the way a user would. `cluster` runs the distributed
//! deployment (Redis, an S3 server, coordinator and worker processes).

pub mod cluster;
pub mod explorer;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

/// Path of a workspace binary built next to the test executable (`cargo build --bins`).
pub fn binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, as `make test` does)",
        path.display()
    );
    path
}

/// A coordinator command with the test salt in its environment.
pub fn coordinator_command() -> Command {
    let mut command = Command::new(binary("coordinator"));
    command.env("WILDCHAT__IP_SALT", TEST_SALT_HEX);
    command
}

/// Runs the coordinator with `args`, returning its output; panics with its stderr on failure.
pub fn coordinator(args: &[&str]) -> Output {
    let output = coordinator_command()
        .args(args)
        .output()
        .expect("starting the coordinator");
    assert!(
        output.status.success(),
        "coordinator {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Expected conversation from the generator's ground truth.
#[derive(Debug, Deserialize)]
pub struct TruthConversation {
    pub turn_identifiers: Vec<i64>,
}

pub fn read_truth_conversations(store: &Path) -> Vec<Vec<i64>> {
    let path = store.join("truth/conversations.jsonl.zst");
    let compressed = std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let plain = zstd::stream::decode_all(&compressed[..]).expect("truth decompresses");
    plain
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice::<TruthConversation>(line)
                .expect("truth line parses")
                .turn_identifiers
        })
        .collect()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
}

/// What `tests/python/check_release.py` reports about a release read with pyarrow.
#[derive(Debug, Deserialize)]
pub struct PyarrowReport {
    pub schema_ok: bool,
    pub schema_problems: Vec<String>,
    pub rows: u64,
    pub turns: u64,
    pub shards: u64,
    pub conversations: Vec<Vec<i64>>,
    pub hash_mismatches: u64,
    pub datasets_rows: Option<u64>,
    pub user_turns: u64,
    pub with_country: u64,
    pub hashed_ip_ok: u64,
}

/// The salt every test run uses (through WILDCHAT__IP_SALT).
pub const TEST_SALT_HEX: &str = "5eed5a17c0ffee00deadbeef5eed5a17";

pub fn read_release_with_pyarrow(release_dir: &Path) -> PyarrowReport {
    read_release(release_dir, false, None)
}

/// As [`read_release_with_pyarrow`], and writes every row as JSON lines to `dump`.
pub fn read_and_dump_release(release_dir: &Path, dump: &Path) -> PyarrowReport {
    read_release(release_dir, false, Some(dump))
}

/// As [`read_release_with_pyarrow`], and also loads the shards with Hugging Face `datasets`.
pub fn read_release_with_pyarrow_and_datasets(release_dir: &Path) -> PyarrowReport {
    read_release(release_dir, true, None)
}

fn read_release(release_dir: &Path, with_datasets: bool, dump: Option<&Path>) -> PyarrowReport {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_release.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(release_dir)
        .args(with_datasets.then_some("--datasets"))
        .args(
            dump.map(|path| vec!["--dump".as_ref(), path.as_os_str()])
                .unwrap_or_default(),
        )
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", std::env::temp_dir().join("wildchat-tests-hf"))
        .output()
        .expect("python3 must be installed (make test installs pyarrow)");
    assert!(
        output.status.success(),
        "pyarrow could not read {}: {}",
        release_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("check_release.py prints json")
}

/// The last non-empty line of a command's stdout.
pub fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// A temporary store holding generated raw logs and their ground truth.
pub fn generated_store(conversations: u64, seed: u64, objects: Option<usize>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = dir.path().join("store");
    let (conversations, seed) = (conversations.to_string(), seed.to_string());
    let store_arg = store.to_str().expect("a utf-8 temporary path").to_string();
    let mut args = vec!["generate", "--conversations", &conversations, "--seed", &seed];
    args.extend(["--store", &store_arg]);
    let objects = objects.map(|count| count.to_string());
    if let Some(objects) = &objects {
        args.extend(["--objects", objects]);
    }
    coordinator(&args);
    (dir, store)
}

pub fn read_manifest(store: &Path, version: &str) -> serde_json::Value {
    read_json(&store.join("releases").join(version).join("manifest.json"))
}

/// A counter of a manifest by its path under `counters`, 0 when absent.
pub fn manifest_counter(manifest: &serde_json::Value, path: &[&str]) -> u64 {
    let mut value = &manifest["counters"];
    for part in path {
        value = &value[*part];
    }
    value.as_u64().unwrap_or(0)
}

/// (sha256, rows) of every shard of the full variant, in order.
pub fn shard_digests(manifest: &serde_json::Value) -> Vec<(String, u64)> {
    manifest["variants"]["full"]["shards"]
        .as_array()
        .expect("the manifest lists shards")
        .iter()
        .map(|shard| {
            (
                shard["sha256"].as_str().expect("a shard sha256").to_string(),
                shard["rows"].as_u64().expect("a shard row count"),
            )
        })
        .collect()
}

/// Checks a release against the generator's ground truth in `truth_store` the way the
/// embedded test does: the schema, Python's conversation_hash, exactly the expected
/// conversations (none lost, none duplicated) and every counter of the manifest.
pub fn assert_release_matches_truth(release_dir: &Path, truth_store: &Path) -> PyarrowReport {
    let manifest = read_json(&release_dir.join("manifest.json"));
    let summary = read_json(&truth_store.join("truth/summary.json"));
    let mut expected = read_truth_conversations(truth_store);
    let report = read_release_with_pyarrow(release_dir);
    assert!(report.schema_ok, "{:?}", report.schema_problems);
    assert_eq!(report.hash_mismatches, 0, "conversation_hash must equal Python's");
    let mut actual = report.conversations.clone();
    actual.sort();
    expected.sort();
    assert_eq!(actual.len(), expected.len(), "conversation count");
    let duplicated = actual.windows(2).filter(|pair| pair[0] == pair[1]).count();
    assert_eq!(duplicated, 0, "duplicated conversations");
    for (actual_ids, expected_ids) in actual.iter().zip(&expected) {
        assert_eq!(actual_ids, expected_ids);
    }
    let expected_count = |key: &str| summary[key].as_u64().expect("a truth summary count");
    assert_eq!(report.rows, expected_count("expected_conversations"));
    assert_eq!(report.turns, expected_count("expected_turns"));
    assert_eq!(manifest_counter(&manifest, &["conversations"]), expected.len() as u64);
    assert_eq!(
        manifest_counter(&manifest, &["chains_dropped", "missing_parent"]),
        summary["chains_dropped"]["missing_parent"].as_u64().unwrap_or(0)
    );
    for (reason, count) in summary["quarantined"].as_object().expect("truth quarantine counts") {
        assert_eq!(
            manifest_counter(&manifest, &["quarantined", reason]),
            count.as_u64().unwrap_or(0),
            "quarantined {reason}"
        );
    }
    assert_eq!(
        manifest_counter(&manifest, &["rows_read"]),
        expected_count("rows_written")
    );
    report
}

/// The client IPs and device fingerprints of every row in the raw objects under `store/raw`,
/// as the pipeline extracts them (IPs in lower case): what must never be found outside `raw/`.
pub fn raw_secrets(store: &Path) -> (std::collections::HashSet<String>, std::collections::HashSet<String>) {
    use shared::lines::{Compression, RangeLines};
    let mut ips = std::collections::HashSet::new();
    let mut fingerprints = std::collections::HashSet::new();
    for entry in std::fs::read_dir(store.join("raw")).expect("a raw folder") {
        let path = entry.expect("a raw entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_string();
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(decoder) = Compression::from_key(&name).decoder(file) else {
            continue;
        };
        let mut lines = RangeLines::new(decoder, 0, None, 1 << 30);
        let mut buffer = Vec::new();
        while let Ok(Some(_)) = lines.next_line(&mut buffer) {
            if let Ok(parsed) = shared::raw::parse_raw_line(&buffer) {
                ips.insert(parsed.row.ip.to_lowercase());
                fingerprints.insert(parsed.row.fingerprint);
            }
        }
    }
    ips.remove("");
    (ips, fingerprints)
}

/// Tokens that could be an IP address or a hex digest: maximal runs of hex digits, '.' and ':'.
pub fn ip_like_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !(character.is_ascii_hexdigit() || character == '.' || character == ':'))
        .filter(|token| token.len() >= 3)
}

/// Scans every file under `root` except `raw/` and `truth/` (the generator's ground truth), and
/// the parquet shards (their rows are scanned through a pyarrow dump by the callers): a file
/// whose text (zstd-decompressed where it is zstd) holds one of `ips`, one of `fingerprints` or
/// `salt_hex` is reported as `file: what`.
pub fn private_data_outside_raw(
    root: &Path,
    ips: &std::collections::HashSet<String>,
    fingerprints: &std::collections::HashSet<String>,
    salt_hex: &str,
) -> Vec<String> {
    fn walk(directory: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut found = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if relative.starts_with("raw/")
            || relative.starts_with("truth/")
            || relative.ends_with(".parquet")
            || relative.starts_with('.')
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let plain = if relative.ends_with(".zst") {
            zstd::stream::decode_all(&bytes[..]).unwrap_or(bytes)
        } else {
            bytes
        };
        let text = String::from_utf8_lossy(&plain).to_lowercase();
        if text.contains(&salt_hex.to_lowercase()) {
            found.push(format!("{relative}: the salt"));
        }
        for token in ip_like_tokens(&text) {
            if ips.contains(token) {
                found.push(format!("{relative}: raw ip {token}"));
                break;
            }
            if fingerprints.contains(token) {
                found.push(format!("{relative}: device fingerprint {token}"));
                break;
            }
        }
    }
    found
}
