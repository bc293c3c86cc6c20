//! Distributed throughput with 1 and 2 worker processes: a real `redis-server` and
//! `moto_server` on loopback, generated input uploaded to the bucket, then one coordinator run
//! per worker count (fresh run ids; each run does all the work: parse, link, language,
//! toxicity, geo, Parquet). Prints the wall time of each run and rows/s.
//!
//!   make bench-distributed      (builds the release binaries first)
//!   cargo bench -p e2e-tests --bench distributed -- --conversations 20000 --workers 1,2

use std::time::{Duration, Instant};

use e2e_tests::cluster::{Cluster, ProcessGuard};
use e2e_tests::{generated_store, read_json};

fn argument(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1).cloned())
}

fn main() {
    if std::env::args().any(|argument| argument == "--list") {
        return;
    }
    let conversations: u64 = argument("--conversations").map_or(20_000, |value| value.parse().expect("a number"));
    let counts: Vec<usize> = argument("--workers")
        .unwrap_or_else(|| "1,2".to_string())
        .split(',')
        .map(|count| count.parse().expect("worker counts like 1,2"))
        .collect();
    let mut cluster = Cluster::start();
    let (_local_dir, local) = generated_store(conversations, 7, Some(6));
    let uploaded = Instant::now();
    cluster.upload(&local, "raw");
    eprintln!(
        "bench: {conversations} conversations uploaded in {:.1}s",
        uploaded.elapsed().as_secs_f64()
    );
    println!("| workers | wall time | raw rows/s | turns/s |");
    println!("| ---: | ---: | ---: | ---: |");
    for (index, count) in counts.iter().enumerate() {
        let workers: Vec<_> = (0..*count).map(|_| cluster.spawn_worker()).collect();
        let mut workers = workers;
        for worker in &mut workers {
            assert!(worker.wait_ready(Duration::from_secs(120)), "a worker did not start");
        }
        let version = format!("bench-{index}-{count}w");
        let started = Instant::now();
        let mut coordinator: ProcessGuard = cluster.spawn_coordinator(&version, &version, &["--partitions", "12"]);
        let status = coordinator
            .wait_for(Duration::from_secs(3600))
            .expect("the run finishes");
        let seconds = started.elapsed().as_secs_f64();
        assert!(status.success(), "the run failed:\n{}", coordinator.stderr_tail(30));
        let download = tempfile::tempdir().expect("a temporary directory");
        cluster.download(&format!("releases/{version}/manifest.json"), download.path());
        let manifest = read_json(&download.path().join(format!("releases/{version}/manifest.json")));
        let rows = manifest["counters"]["lines_read"].as_u64().unwrap_or(0);
        let turns = 2 * manifest["counters"]["turns"].as_u64().unwrap_or(0);
        println!(
            "| {count} | {seconds:.1} s | {:.0} | {:.0} |",
            rows as f64 / seconds,
            turns as f64 / seconds
        );
        for worker in &mut workers {
            worker.process.terminate();
            worker.process.wait_for(Duration::from_secs(60));
        }
    }
}
