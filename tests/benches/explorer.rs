//! The release explorer under load: a generated release is committed, `release serve` builds
//! its catalog and search index (time and peak RSS of the server reported), then 8 concurrent
//! clients send filtered browses, searches and conversation pages; p50/p95 latency per kind.
//!
//!   make bench-explorer        (builds the release binaries first)
//!   cargo bench -p e2e-tests --bench explorer -- --conversations 100000 --clients 8 --requests 50
//!   cargo bench -p e2e-tests --bench explorer -- --store DIR --version V   (an existing release)

use std::time::{Duration, Instant};

use e2e_tests::explorer::{count, get, listed_hashes, serve};
use e2e_tests::{coordinator, generated_store};

fn argument(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1).cloned())
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn dir_mib(path: &std::path::Path) -> f64 {
    let mut bytes = 0u64;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(metadata) if metadata.is_dir() => pending.push(entry.path()),
                Ok(metadata) => bytes += metadata.len(),
                Err(_) => {}
            }
        }
    }
    bytes as f64 / (1 << 20) as f64
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

fn main() {
    if std::env::args().any(|argument| argument == "--list") {
        return;
    }
    let conversations: u64 = argument("--conversations").map_or(100_000, |value| value.parse().expect("a number"));
    let clients: usize = argument("--clients").map_or(8, |value| value.parse().expect("a number"));
    let requests: usize = argument("--requests").map_or(50, |value| value.parse().expect("a number"));
    // An existing release (`--store DIR --version V`, e.g. a scale run's), or a generated one.
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let (_generated, store, version) = match (argument("--store"), argument("--version")) {
        (Some(store), Some(version)) => (None, std::path::PathBuf::from(store), version),
        _ => {
            let (dir, store) = generated_store(conversations, 11, None);
            let started = Instant::now();
            coordinator(&[
                "run",
                "--store",
                store.to_str().unwrap(),
                "--version",
                "bench",
                "--quiet",
            ]);
            eprintln!(
                "bench: release of {conversations} conversations in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            (Some(dir), store, "bench".to_string())
        }
    };
    // A fresh local cache, and no cache in the store, so that the build is measured.
    let _ = std::fs::remove_dir_all(store.join("cache/explorer").join(&version));
    let cache = scratch.path().join("explorer-cache");
    let started = Instant::now();
    let server = serve(&store, &cache, &[&version], None).expect("release serve starts");
    let build = started.elapsed();
    let build_rss = peak_rss_mib(server.pid());
    let index_mib = dir_mib(&store.join("cache/explorer"));

    // Conversations to open: the hashes of a few result pages.
    let mut hashes: Vec<String> = Vec::new();
    for page in 1..=4 {
        for sort in ["newest", "oldest", "turns"] {
            hashes.extend(listed_hashes(
                &get(&server, &format!("/browse?sort={sort}&page={page}")).body,
            ));
        }
    }
    let browses = [
        "/browse?language=English",
        "/browse?language=English&toxic=false&min_turns=2",
        "/browse?country=United+States&sort=oldest",
        "/browse?language=Chinese&redacted=false&page=3",
        "/browse?model=gpt-4-0314&sort=turns",
        "/browse?from=2023-06-01&to=2023-12-31&language=Russian",
        "/browse?max_turns=1&country=Russia&sort=oldest&page=2",
    ];
    let searches = [
        "/search?q=story",
        "/search?q=%22write+a%22",
        "/search?q=code+language&language=English",
        "/search?q=project+water&min_turns=2",
        "/search?q=essay&sort=oldest",
        "/search?q=market+school+game&page=2",
    ];
    let conversations_paths: Vec<String> = hashes.iter().map(|hash| format!("/conversation/{hash}")).collect();
    let kinds: [(&str, Vec<String>); 3] = [
        (
            "browse (filtered)",
            browses.iter().map(|path| path.to_string()).collect(),
        ),
        ("search", searches.iter().map(|path| path.to_string()).collect()),
        ("conversation page", conversations_paths),
    ];
    let conversations = count(&get(&server, "/browse").body, "match-count");
    println!("explorer over {conversations} conversations (nontoxic variant): catalog and index built in {:.1} s, server peak RSS {build_rss:.0} MiB, cache in the store {index_mib:.0} MiB", build.as_secs_f64());
    println!("| request | clients | requests | p50 | p95 | max | requests/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (kind, paths) in &kinds {
        let started = Instant::now();
        let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|client| {
                    let server = &server;
                    scope.spawn(move || {
                        (0..requests)
                            .map(|index| {
                                let path = &paths[(client * 7 + index) % paths.len()];
                                let sent = Instant::now();
                                get(server, path);
                                sent.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().expect("a client"))
                .collect()
        });
        let wall = started.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "| {kind} | {clients} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} |",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            percentile(&latencies, 1.0),
            latencies.len() as f64 / wall
        );
    }
    println!("server peak RSS after the load: {:.0} MiB", peak_rss_mib(server.pid()));
}
