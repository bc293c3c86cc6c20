//! Running a release: plan (or resume), enqueue the map jobs and wait at the barrier,
//! enqueue the partition jobs and wait, then commit the release with its manifest last.
//! The embedded default runs workers as tasks in this process on the same code path.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use shared::counters::Counters;
use shared::jobs::{JobPayload, MapOutcome, PartitionJob, PartitionOutcome, RunLayout, MAP_QUEUE, PARTITION_QUEUE};
use shared::queue::{Job, Queue};
use shared::store::{get_json, ObjectStore};
use tokio::sync::watch;
use worker::enrich::Enrichment;
use worker::runner::{run_worker_loop, RunnerOptions, RunnerStats};

use crate::commit::{commit_release, manifest_key, CommitReport};
use crate::plan::{plan_or_resume, PlanConfig, RunPlan};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_id: String,
    pub version: String,
    pub config: PlanConfig,
    /// Worker tasks started in this process (0 when external workers serve the queue).
    pub embedded_workers: usize,
    pub progress: bool,
    /// Salt and GeoIP databases the embedded workers use.
    pub enrichment: Arc<Enrichment>,
}

/// Everything the summary needs.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub plan: RunPlan,
    pub resumed: bool,
    pub counters: Counters,
    pub map_outcomes: Vec<MapOutcome>,
    pub commit: CommitReport,
    pub elapsed: Duration,
}

fn queue_name(run_id: &str, kind: &str) -> String {
    format!("{run_id}/{kind}")
}

pub async fn run_pipeline(
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    options: &RunOptions,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    if store.head(&manifest_key(&options.version)).await?.is_some() {
        bail!(
            "release {} already exists in {}; releases are immutable, choose another --version",
            options.version,
            store.describe()
        );
    }
    let (plan, resumed) = plan_or_resume(store.as_ref(), &options.run_id, &options.version, &options.config).await?;
    let layout = RunLayout::new(&plan.run_id);
    let map_queue = queue_name(&plan.run_id, MAP_QUEUE);
    let partition_queue = queue_name(&plan.run_id, PARTITION_QUEUE);

    let (stop_sender, stop_receiver) = watch::channel(false);
    let stats = Arc::new(RunnerStats::default());
    let mut workers = Vec::new();
    for index in 0..options.embedded_workers {
        let runner_options = RunnerOptions {
            worker_name: format!("embedded-{index}"),
            queues: vec![partition_queue.clone(), map_queue.clone()],
            heartbeat_interval: Duration::from_secs(10),
            idle_poll: Duration::from_millis(50),
            enrichment: options.enrichment.clone(),
        };
        workers.push(tokio::spawn(run_worker_loop(
            store.clone(),
            queue.clone(),
            runner_options,
            stop_receiver.clone(),
            stats.clone(),
        )));
    }

    let result = async {
        // Map phase: enqueue what has no completion marker yet.
        let mut pending_map = Vec::new();
        for job in &plan.map_jobs {
            if store.head(&layout.map_marker(&job.job_id)).await?.is_none() {
                pending_map.push(Job {
                    id: job.job_id.clone(),
                    payload: serde_json::to_value(JobPayload::Map(job.clone()))?,
                });
            }
        }
        let total_bytes: u64 = plan.inputs.iter().map(|object| object.size).sum();
        let phase_total = pending_map.len() as u64;
        queue.enqueue(&map_queue, pending_map).await?;
        wait_for_phase(
            queue.as_ref(),
            &map_queue,
            "map",
            phase_total,
            &stats,
            options.progress,
            Some(total_bytes),
        )
        .await?;

        let mut map_outcomes = Vec::with_capacity(plan.map_jobs.len());
        for job in &plan.map_jobs {
            let outcome: MapOutcome = get_json(store.as_ref(), &layout.map_marker(&job.job_id))
                .await
                .with_context(|| format!("reading the outcome of map job {}", job.job_id))?;
            map_outcomes.push(outcome);
        }
        let mut counters = Counters::default();
        let mut fragments_by_partition: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for outcome in &map_outcomes {
            counters.merge(&outcome.counters);
            for fragment in &outcome.fragments {
                fragments_by_partition
                    .entry(fragment.partition)
                    .or_default()
                    .push(fragment.key.clone());
            }
        }

        // Partition phase.
        let mut pending_partitions = Vec::new();
        for partition in 0..plan.config.partitions {
            if store.head(&layout.partition_marker(partition)).await?.is_none() {
                let job = PartitionJob {
                    run_id: plan.run_id.clone(),
                    partition,
                    fragments: fragments_by_partition.remove(&partition).unwrap_or_default(),
                };
                pending_partitions.push(Job {
                    id: format!("p{partition:05}"),
                    payload: serde_json::to_value(JobPayload::Partition(job))?,
                });
            }
        }
        let phase_total = pending_partitions.len() as u64;
        stats.rows.store(0, Ordering::Relaxed);
        queue.enqueue(&partition_queue, pending_partitions).await?;
        wait_for_phase(
            queue.as_ref(),
            &partition_queue,
            "link",
            phase_total,
            &stats,
            options.progress,
            None,
        )
        .await?;

        let mut partition_outcomes = Vec::with_capacity(plan.config.partitions as usize);
        for partition in 0..plan.config.partitions {
            let outcome: PartitionOutcome = get_json(store.as_ref(), &layout.partition_marker(partition))
                .await
                .with_context(|| format!("reading the outcome of partition {partition}"))?;
            counters.merge(&outcome.counters);
            partition_outcomes.push(outcome);
        }
        let commit = commit_release(store.as_ref(), &plan, &partition_outcomes, &map_outcomes, &counters).await?;
        Ok::<_, anyhow::Error>((counters, map_outcomes, commit))
    }
    .await;

    let _ = stop_sender.send(true);
    for worker in workers {
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(error = %format!("{error:#}"), "embedded worker stopped with an error"),
            Err(join_error) => tracing::warn!(error = %join_error, "embedded worker panicked"),
        }
    }
    let (counters, map_outcomes, commit) = result?;
    Ok(RunReport {
        plan,
        resumed,
        counters,
        map_outcomes,
        commit,
        elapsed: started.elapsed(),
    })
}

/// Waits until every job of the phase completed; fails with the dead letters if any job
/// exhausted its attempts. Shows a progress line on stderr.
async fn wait_for_phase(
    queue: &dyn Queue,
    queue_name: &str,
    phase: &str,
    total: u64,
    stats: &RunnerStats,
    show_progress: bool,
    total_bytes: Option<u64>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let interactive = std::io::stderr().is_terminal();
    let mut last_printed = Instant::now();
    loop {
        let queue_stats = queue.stats(queue_name).await?;
        let finished = queue_stats.completed + queue_stats.dead;
        let elapsed = started.elapsed().as_secs_f64();
        let print_due = interactive || last_printed.elapsed() >= Duration::from_secs(10);
        if show_progress && (print_due || finished >= total) {
            let rows = stats.rows.load(Ordering::Relaxed);
            let rate = rows as f64 / elapsed.max(1e-3);
            let eta = if queue_stats.completed > 0 && finished < total {
                let per_job = elapsed / queue_stats.completed as f64;
                format!("{:.0}s", per_job * (total - finished) as f64)
            } else {
                "-".to_string()
            };
            let unit = if total_bytes.is_some() { "lines" } else { "turns" };
            let line = format!(
                "{phase:>4}: jobs {}/{total} | {rows} {unit} | {rate:.0} {unit}/s | eta {eta} | retries {} | dead {}",
                queue_stats.completed, queue_stats.retries, queue_stats.dead
            );
            if interactive {
                eprint!("\r\x1b[2K{line}");
                if finished >= total {
                    eprintln!();
                }
            } else {
                eprintln!("{line}");
            }
            last_printed = Instant::now();
        }
        if finished >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(if interactive { 200 } else { 500 })).await;
    }
    let dead = queue.dead_letters(queue_name).await?;
    if !dead.is_empty() {
        let details: Vec<String> = dead
            .iter()
            .take(10)
            .map(|letter| {
                format!(
                    "{} after {} attempts: {}",
                    letter.job_id, letter.attempts, letter.last_error
                )
            })
            .collect();
        bail!(
            "{} {phase} job(s) failed for good; nothing was committed:\n  {}",
            dead.len(),
            details.join("\n  ")
        );
    }
    Ok(())
}
