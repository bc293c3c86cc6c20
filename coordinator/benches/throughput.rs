//! Throughput benchmark (a bench binary, not a timed test):
//! `cargo bench -p coordinator --bench throughput -- --conversations 100000`.
//!
//! Generates synthetic logs, then measures on one core: decompress + parse + validate +
//! partition of every raw line, and linking + assembling conversations per partition. Then it
//! runs the whole embedded pipeline (including Parquet) with one worker and with one worker
//! per core, and prints rows/s for each.

use std::sync::Arc;
use std::time::Instant;

use coordinator::pipeline::{run_pipeline, RunOptions};
use coordinator::plan::PlanConfig;
use generator::{generate, GenerateOptions};
use queue::{MemoryQueue, QueueConfig};
use shared::lines::{Compression, RangeLines};
use shared::raw::{parse_raw_line, LinkRow};
use storage::{LocalStore, ObjectStore, PutMode};

const PARTITIONS: u32 = 16;

fn argument(name: &str, default: u64) -> u64 {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let conversations = argument("--conversations", 100_000);
    let cores = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1);
    let directory = tempfile::tempdir()?;
    let store = LocalStore::open(directory.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    let started = Instant::now();
    let sink_store = store.clone();
    let handle = runtime.handle().clone();
    let sink = move |key: &str, body: Vec<u8>| -> anyhow::Result<()> {
        handle.block_on(sink_store.put(key, body.into(), PutMode::Overwrite))?;
        Ok(())
    };
    let summary = generate(
        &GenerateOptions {
            conversations,
            seed: 42,
            objects: None,
        },
        &sink,
        &|_, _| {},
    )?;
    println!(
        "generated {conversations} conversations ({} raw rows, {} objects) in {:.1}s",
        summary.rows_written,
        summary.objects.len(),
        started.elapsed().as_secs_f64()
    );

    // Single core: decompress, parse, validate and partition.
    let objects = runtime.block_on(store.list("raw/"))?;
    let raw_bytes: u64 = objects.iter().map(|object| object.size).sum();
    let mut partitions: Vec<Vec<LinkRow>> = vec![Vec::new(); PARTITIONS as usize];
    let mut lines = 0u64;
    let parse_started = Instant::now();
    for object in &objects {
        let file = std::fs::File::open(directory.path().join(&object.key))?;
        let decoder = Compression::from_key(&object.key).decoder(file)?;
        let mut reader = RangeLines::new(decoder, 0, None, 32 << 20);
        let mut buffer = Vec::new();
        while reader.next_line(&mut buffer)?.is_some() {
            lines += 1;
            if let Ok(parsed) = parse_raw_line(&buffer) {
                let partition = parsed.partition(PARTITIONS) as usize;
                partitions[partition].push(parsed.row);
            }
        }
    }
    let parse_seconds = parse_started.elapsed().as_secs_f64();

    // Single core: link and assemble every partition.
    let link_started = Instant::now();
    let mut linked_conversations = 0usize;
    let enrichment = worker::enrich::Enrichment::default();
    let mut geo = worker::assemble::GeoCounts::default();
    for rows in &mut partitions {
        let linked = link::link_rows(rows);
        for chain in &linked.conversations {
            let conversation = worker::assemble::assemble_conversation(rows, chain, &enrichment, &mut geo);
            linked_conversations += usize::from(conversation.turn > 0);
        }
    }
    let link_seconds = link_started.elapsed().as_secs_f64();
    let per_core = lines as f64 / (parse_seconds + link_seconds);
    println!(
        "one core: parse+partition {:.0} rows/s ({:.1} MiB/s of raw input), link+assemble {:.0} rows/s, together {:.0} rows/s ({} rows, {} conversations)",
        lines as f64 / parse_seconds,
        raw_bytes as f64 / (1024.0 * 1024.0) / parse_seconds,
        lines as f64 / link_seconds,
        per_core,
        lines,
        linked_conversations
    );

    // The whole embedded pipeline, including Parquet encoding and store writes.
    for workers in [1, cores] {
        let version = format!("bench-{workers}");
        let options = RunOptions {
            run_id: version.clone(),
            version,
            config: PlanConfig {
                partitions: PARTITIONS,
                ..PlanConfig::default()
            },
            embedded_workers: workers,
            progress: false,
            enrichment: Arc::new(worker::enrich::Enrichment::default()),
            poll_interval: std::time::Duration::from_millis(100),
            progress_interval: std::time::Duration::from_secs(10),
            embedded_heartbeat: std::time::Duration::from_secs(10),
            keep_intermediates: false,
            fingerprint: None,
        };
        let store_handle: Arc<dyn ObjectStore> = Arc::new(store.clone());
        let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
        let started = Instant::now();
        let report = runtime.block_on(run_pipeline(store_handle, queue, &options))?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "pipeline, {workers} worker(s): {:.1}s, {:.0} rows/s, {} conversations",
            seconds,
            report.counters.get("lines_read") as f64 / seconds,
            report.counters.get("conversations")
        );
    }
    Ok(())
}
