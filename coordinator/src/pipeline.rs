//! Running a release: plan (or resume), enqueue the map jobs and wait at the barrier, enqueue
//! the analyse (partition) jobs and wait, merge the partitions' PII counts into the run's
//! frequent set, enqueue the finalise jobs and wait, then commit the release with its manifest
//! last (DESIGN §6, order of work).
//! The embedded default runs workers as tasks in this process on the same code path; with a
//! shared queue the workers are other processes that find the run through its announcement.
//!
//! A barrier is decided by the store, not the queue: a phase is over when every job's
//! completion marker exists. The queue's counters only drive progress and two alarms: dead
//! letters (the run fails naming the job and its last error) and lost jobs (nothing waiting or
//! leased while markers are missing, as after a Redis restart that lost its data), which are
//! enqueued again. So a restarted coordinator or a rebuilt queue never redoes finished jobs
//! and never waits on work nobody holds.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use queue::{Job, Queue, QueueError, QueueStats, RunAnnouncement};
use serde::de::DeserializeOwned;
use shared::counters::Counters;
use shared::jobs::{
    run_queue, AnalyseOutcome, FinaliseJob, FinaliseOutcome, JobPayload, MapOutcome, PartitionJob, RunLayout,
    FINALISE_QUEUE, MAP_QUEUE, PARTITION_GPU_QUEUE, PARTITION_QUEUE,
};
use shared::retry::Backoff;
use storage::{ObjectStore, PutMode, StoreError};
use tokio::sync::watch;
use tracing::{info, warn};
use worker::enrich::Enrichment;
use worker::runner::{run_worker_loop, QueueSource, RunnerOptions, RunnerStats};

use crate::commit::{commit_release, CommitReport};
use crate::plan::{plan_or_resume, PlanConfig, RunPlan};
use shared::fingerprint::ResourceFingerprint;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_id: String,
    pub version: String,
    pub config: PlanConfig,
    /// Worker tasks started in this process (0 when external workers serve the queue).
    pub embedded_workers: usize,
    pub progress: bool,
    /// Salt, GeoIP databases and language models the embedded workers use.
    pub enrichment: Arc<Enrichment>,
    /// How often the coordinator looks at the queue and the store while it waits.
    pub poll_interval: Duration,
    /// How often a non-interactive progress line is printed.
    pub progress_interval: Duration,
    /// Heartbeat period of the embedded workers (shorter than the queue's lease timeout).
    pub embedded_heartbeat: Duration,
    /// Keep the run's private intermediates after the commit (`crate::retention`).
    pub keep_intermediates: bool,
    /// What the coordinator loaded (`worker::resources::resource_fingerprint`): recorded in the
    /// plan, announced to workers, which serve the run only when theirs is the same. None
    /// records none and lets every worker serve the run (benchmarks).
    pub fingerprint: Option<ResourceFingerprint>,
}

/// Everything the summary needs.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub plan: RunPlan,
    pub resumed: bool,
    pub counters: Counters,
    /// Work done (texts scored, cache hits), apart from the data counters.
    pub work: Counters,
    pub map_outcomes: Vec<MapOutcome>,
    pub commit: CommitReport,
    pub elapsed: Duration,
    /// Attempts the queue retried (failed or expired leases), both phases together.
    pub queue_retries: u64,
    /// Jobs enqueued again because the queue had lost them.
    pub jobs_requeued: u64,
    /// Wall time of each phase in order (map, analyse, merge, finalise, commit).
    pub phase_times: Vec<(&'static str, Duration)>,
}

/// The job of one phase, with the key of its completion marker.
struct PhaseJob {
    id: String,
    marker: String,
    payload: JobPayload,
}

/// What waiting at one barrier found out.
struct PhaseResult<T> {
    /// One outcome per job, in the order the jobs were given.
    outcomes: Vec<T>,
    retries: u64,
    requeued: u64,
}

/// Shared by both phases of one run.
struct Watch<'a> {
    store: &'a dyn ObjectStore,
    queue: &'a dyn Queue,
    options: &'a RunOptions,
    plan: &'a RunPlan,
    queues: Vec<String>,
}

/// The claimant a run's commit writes under `claims/` (`release::claim`).
pub fn run_claimant(run_id: &str) -> String {
    format!("run {run_id}")
}

pub async fn run_pipeline(
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    options: &RunOptions,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    // The version is claimed before anything is planned or written: a run with another run id
    // stops here; the same run id resuming goes on.
    release::claim::claim_version(store.as_ref(), &options.version, &run_claimant(&options.run_id)).await?;
    let (plan, resumed) = plan_or_resume(
        store.as_ref(),
        &options.run_id,
        &options.version,
        &options.config,
        options.fingerprint.as_ref(),
    )
    .await?;
    let map_queue = run_queue(&plan.run_id, MAP_QUEUE);
    let analyse_kind = if plan.config.analyse_on == crate::plan::AnalyseOn::Gpu {
        PARTITION_GPU_QUEUE
    } else {
        PARTITION_QUEUE
    };
    let partition_queue = run_queue(&plan.run_id, analyse_kind);
    let finalise_queue = run_queue(&plan.run_id, FINALISE_QUEUE);
    let queues = vec![finalise_queue.clone(), partition_queue.clone(), map_queue.clone()];

    let (stop_sender, stop_receiver) = watch::channel(false);
    let stats = Arc::new(RunnerStats::default());
    let mut workers = Vec::new();
    for index in 0..options.embedded_workers {
        let runner_options = RunnerOptions {
            worker_name: format!("embedded-{}-{index}", std::process::id()),
            queues: QueueSource::Fixed(queues.clone()),
            heartbeat_interval: options.embedded_heartbeat,
            idle_poll: Duration::from_millis(50),
            enrichment: options.enrichment.clone(),
            observer: None,
            run_check: None,
        };
        workers.push(tokio::spawn(run_worker_loop(
            store.clone(),
            queue.clone(),
            runner_options,
            stop_receiver.clone(),
            stats.clone(),
        )));
    }

    let watch = Watch {
        store: store.as_ref(),
        queue: queue.as_ref(),
        options,
        plan: &plan,
        queues,
    };
    let result = run_phases(&watch, &map_queue, &partition_queue, &finalise_queue).await;

    let _ = stop_sender.send(true);
    for worker in workers {
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(error = %format!("{error:#}"), "embedded worker stopped with an error"),
            Err(join_error) => warn!(error = %join_error, "embedded worker panicked"),
        }
    }
    // Workers stop looking at this run's queues; a restarted coordinator announces it again.
    let withdrawn = Backoff::CONTROL
        .retry(
            || queue.withdraw_run(&plan.run_id),
            QueueError::is_retryable,
            |error, attempt| warn!(operation = "withdraw run", attempt, error = %error, "queue call failed, retrying"),
        )
        .await;
    if let Err(error) = withdrawn {
        warn!(run = %plan.run_id, error = %error, "cannot withdraw the run announcement");
    }
    let PhasesOutcome {
        counters,
        work,
        map_outcomes,
        commit,
        queue_retries,
        jobs_requeued,
        phase_times,
    } = result?;
    // Committed: the private intermediates (raw IPs, fingerprints, unredacted text) go now.
    if !options.keep_intermediates {
        let removed = crate::retention::delete_intermediates(store.as_ref(), &plan.run_id)
            .await
            .with_context(|| {
                format!(
                    "release {} is committed, but deleting the run's private intermediates failed: run \
                     `coordinator runs gc` to finish",
                    plan.version
                )
            })?;
        info!(run = %plan.run_id, objects = removed.objects, bytes = removed.bytes, "private intermediates deleted");
    }
    Ok(RunReport {
        plan,
        resumed,
        counters,
        work,
        map_outcomes,
        commit,
        elapsed: started.elapsed(),
        queue_retries,
        jobs_requeued,
        phase_times,
    })
}

/// Data counters, work counters, map outcomes, the commit, queue retries, jobs re-enqueued.
struct PhasesOutcome {
    counters: Counters,
    work: Counters,
    map_outcomes: Vec<MapOutcome>,
    commit: CommitReport,
    queue_retries: u64,
    jobs_requeued: u64,
    phase_times: Vec<(&'static str, Duration)>,
}

async fn run_phases(
    watch: &Watch<'_>,
    map_queue: &str,
    partition_queue: &str,
    finalise_queue: &str,
) -> anyhow::Result<PhasesOutcome> {
    let plan = watch.plan;
    let layout = RunLayout::new(&plan.run_id);
    let mut phase_times = Vec::new();
    let mut phase_started = Instant::now();
    let mut lap = |name: &'static str, times: &mut Vec<(&'static str, Duration)>| {
        times.push((name, phase_started.elapsed()));
        phase_started = Instant::now();
    };
    let map_jobs = plan
        .map_jobs
        .iter()
        .map(|job| PhaseJob {
            id: job.job_id.clone(),
            marker: layout.map_marker(&job.job_id),
            payload: JobPayload::Map(job.clone()),
        })
        .collect();
    let mapped: PhaseResult<MapOutcome> = watch
        .run_phase("map", map_queue, map_jobs, "lines", |outcome: &MapOutcome| {
            outcome.counters.get("lines_read")
        })
        .await?;
    lap("map", &mut phase_times);

    let mut counters = Counters::default();
    let mut fragments_by_partition: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for outcome in &mapped.outcomes {
        counters.merge(&outcome.counters);
        for fragment in &outcome.fragments {
            fragments_by_partition
                .entry(fragment.partition)
                .or_default()
                .push(fragment.key.clone());
        }
    }
    let partition_jobs = (0..plan.config.partitions)
        .map(|partition| PhaseJob {
            id: format!("p{partition:05}"),
            marker: layout.partition_marker(partition),
            payload: JobPayload::Partition(PartitionJob {
                run_id: plan.run_id.clone(),
                partition,
                fragments: fragments_by_partition.remove(&partition).unwrap_or_default(),
                pii: plan.config.pii.clone(),
            }),
        })
        .collect();
    let analysed: PhaseResult<AnalyseOutcome> = watch
        .run_phase(
            "analyse",
            partition_queue,
            partition_jobs,
            "turns",
            |outcome: &AnalyseOutcome| outcome.counters.get("turns"),
        )
        .await?;
    lap("analyse", &mut phase_times);
    let mut work = Counters::default();
    for outcome in &analysed.outcomes {
        counters.merge(&outcome.counters);
        work.merge(&outcome.work);
    }

    let frequent_key = merge_pii_counts(watch.store, plan, &analysed.outcomes, &mut counters).await?;
    lap("merge pii counts", &mut phase_times);
    let finalise_jobs = analysed
        .outcomes
        .iter()
        .map(|outcome| PhaseJob {
            id: format!("f{:05}", outcome.partition),
            marker: layout.finalise_marker(outcome.partition),
            payload: JobPayload::Finalise(FinaliseJob {
                run_id: plan.run_id.clone(),
                partition: outcome.partition,
                analysed: outcome.analysed.clone(),
                frequent: frequent_key.clone(),
                pii: plan.config.pii.clone(),
                exclusions: plan.config.exclusions.clone(),
            }),
        })
        .collect();
    let finalised: PhaseResult<FinaliseOutcome> = watch
        .run_phase(
            "finalise",
            finalise_queue,
            finalise_jobs,
            "conversations",
            |outcome: &FinaliseOutcome| outcome.shards.get("full").map_or(0, |shard| shard.rows),
        )
        .await?;
    lap("finalise", &mut phase_times);
    for outcome in &finalised.outcomes {
        counters.merge(&outcome.counters);
        work.merge(&outcome.work);
    }
    watch.announce("commit", 0, 0).await?;
    let commit = commit_release(
        watch.store,
        plan,
        &finalised.outcomes,
        &mapped.outcomes,
        &counters,
        &work,
    )
    .await?;
    lap("commit", &mut phase_times);
    Ok(PhasesOutcome {
        counters,
        work,
        map_outcomes: mapped.outcomes,
        commit,
        queue_retries: mapped.retries + analysed.retries + finalised.retries,
        jobs_requeued: mapped.requeued + analysed.requeued + finalised.requeued,
        phase_times,
    })
}

/// Merges every partition's PII document-frequency counts and writes the run's frequent set
/// (the strings at or over their type's limit, which the policy keeps). The merge is pure, so a
/// resumed run writes the same bytes again.
async fn merge_pii_counts(
    store: &dyn ObjectStore,
    plan: &RunPlan,
    outcomes: &[AnalyseOutcome],
    counters: &mut Counters,
) -> anyhow::Result<String> {
    let policy = worker::redaction::limits_policy(&plan.config.pii)?;
    let mut merged = worker::redaction::DocCounts::default();
    for outcome in outcomes {
        let Some(key) = &outcome.pii_counts else {
            continue;
        };
        let bytes = store
            .get(key)
            .await
            .with_context(|| format!("reading pii counts {key}"))?;
        merged.merge(&worker::jobs::partition::decode_counts(key, &bytes)?);
    }
    let frequent = merged.frequent(&policy);
    counters.add("pii_strings_counted", merged.len() as u64);
    counters.add("pii_strings_frequent", frequent.len() as u64);
    let key = RunLayout::new(&plan.run_id).pii_frequent();
    store
        .put(&key, bytes::Bytes::from(frequent.encode()?), PutMode::Overwrite)
        .await
        .with_context(|| format!("writing the run's frequent pii set {key}"))?;
    info!(run = %plan.run_id, counted = merged.len(), frequent = frequent.len(), "pii counts merged");
    Ok(key)
}

/// Reads a completion marker; `None` while the job has not completed.
async fn read_marker<T: DeserializeOwned>(store: &dyn ObjectStore, key: &str) -> anyhow::Result<Option<T>> {
    match store.get(key).await {
        Ok(body) => {
            let outcome =
                serde_json::from_slice(&body).with_context(|| format!("completion marker {key} is not valid"))?;
            Ok(Some(outcome))
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(anyhow::Error::new(error).context(format!("reading completion marker {key}"))),
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// Consecutive idle looks (nothing waiting or leased, markers missing) before jobs count as lost.
const IDLE_LOOKS_BEFORE_REQUEUE: u32 = 2;
/// Markers are re-read at least this often even when the queue's counters do not move.
const MARKER_REFRESH: Duration = Duration::from_secs(10);

impl Watch<'_> {
    /// Calls the queue, riding out a restart of its backend with backoff.
    async fn queue_call<T, F, Fut>(&self, operation: &str, call: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, QueueError>>,
    {
        Backoff::CONTROL
            .retry(call, QueueError::is_retryable, |error, attempt| {
                warn!(operation, attempt, error = %error, "queue call failed, retrying");
            })
            .await
            .with_context(|| format!("queue {operation} failed"))
    }

    async fn announce(&self, phase: &str, jobs_done: u64, jobs_total: u64) -> anyhow::Result<()> {
        let announcement = RunAnnouncement {
            run_id: self.plan.run_id.clone(),
            version: self.plan.version.clone(),
            store: self.store.describe(),
            queues: self.queues.clone(),
            phase: phase.to_string(),
            jobs_done,
            jobs_total,
            updated_ms: unix_ms(),
            fingerprint: self
                .plan
                .fingerprint
                .as_ref()
                .map(|fingerprint| fingerprint.resources.clone()),
        };
        self.queue_call("announce run", || self.queue.announce_run(&announcement))
            .await
    }

    async fn enqueue(&self, queue_name: &str, jobs: &[PhaseJob], ids: &BTreeSet<String>) -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(ids.len());
        for job in jobs.iter().filter(|job| ids.contains(&job.id)) {
            batch.push(Job {
                id: job.id.clone(),
                payload: serde_json::to_value(&job.payload)
                    .with_context(|| format!("encoding the payload of job {}", job.id))?,
            });
        }
        self.queue_call("enqueue", || self.queue.enqueue(queue_name, batch.clone()))
            .await
    }

    /// Enqueues the jobs without a completion marker and waits until every marker exists.
    async fn run_phase<T: DeserializeOwned>(
        &self,
        phase: &str,
        queue_name: &str,
        jobs: Vec<PhaseJob>,
        unit: &str,
        rows_of: impl Fn(&T) -> u64,
    ) -> anyhow::Result<PhaseResult<T>> {
        let total = jobs.len() as u64;
        let mut outcomes: Vec<Option<T>> = Vec::with_capacity(jobs.len());
        let mut outstanding = BTreeSet::new();
        for job in &jobs {
            let outcome = read_marker::<T>(self.store, &job.marker).await?;
            if outcome.is_none() {
                outstanding.insert(job.id.clone());
            }
            outcomes.push(outcome);
        }
        let index_of: BTreeMap<&str, usize> = jobs
            .iter()
            .enumerate()
            .map(|(index, job)| (job.id.as_str(), index))
            .collect();
        let done_before = total - outstanding.len() as u64;
        self.announce(phase, done_before, total).await?;
        if !outstanding.is_empty() {
            self.enqueue(queue_name, &jobs, &outstanding).await?;
        }
        info!(run = %self.plan.run_id, phase, total, already_done = done_before, "phase started");

        let started = Instant::now();
        let interactive = self.options.progress && std::io::stderr().is_terminal();
        let mut last_printed: Option<Instant> = None;
        let mut last_refresh = Instant::now();
        let mut last_counts: Option<(u64, u64)> = None;
        let mut idle_looks = 0u32;
        let mut requeued = 0u64;
        let mut requeues_without_effect = 0u32;
        let mut rows_now = 0u64;
        let mut queue_stats;
        let mut mismatches = MismatchWatch::default();
        loop {
            queue_stats = self.queue_call("stats", || self.queue.stats(queue_name)).await?;
            mismatches.refresh(self.queue, &self.plan.run_id).await;
            let counts = (queue_stats.completed, queue_stats.dead);
            let idle = queue_stats.waiting + queue_stats.leased == 0;
            if idle || last_counts != Some(counts) || last_refresh.elapsed() >= MARKER_REFRESH {
                last_counts = Some(counts);
                last_refresh = Instant::now();
                let candidates: Vec<String> = outstanding.iter().cloned().collect();
                for job_id in candidates {
                    let Some(&index) = index_of.get(job_id.as_str()) else {
                        continue;
                    };
                    if let Some(outcome) = read_marker::<T>(self.store, &jobs[index].marker).await? {
                        rows_now += rows_of(&outcome);
                        outcomes[index] = Some(outcome);
                        outstanding.remove(&job_id);
                    }
                }
            }
            let done = total - outstanding.len() as u64;
            let finished = outstanding.is_empty();
            if self.options.progress {
                let due = interactive
                    || finished
                    || last_printed.is_none_or(|at| at.elapsed() >= self.options.progress_interval);
                if due {
                    let mut line = progress_line(
                        phase,
                        unit,
                        done,
                        total,
                        done - done_before,
                        rows_now,
                        started.elapsed(),
                        &queue_stats,
                    );
                    line.push_str(&mismatches.note());
                    if interactive {
                        eprint!("\r\x1b[2K{line}");
                        if finished {
                            eprintln!();
                        }
                    } else {
                        eprintln!("{line}");
                    }
                    last_printed = Some(Instant::now());
                }
            }
            if finished {
                break;
            }
            if queue_stats.dead > 0 {
                self.fail_on_dead_letters(phase, queue_name, &outstanding).await?;
            }
            if idle {
                idle_looks += 1;
            } else {
                idle_looks = 0;
                requeues_without_effect = 0;
            }
            if idle_looks >= IDLE_LOOKS_BEFORE_REQUEUE {
                idle_looks = 0;
                if requeues_without_effect >= 3 {
                    let sample: Vec<&str> = outstanding.iter().take(5).map(String::as_str).collect();
                    bail!(
                        "{} {phase} job(s) have no completion marker in {} but queue {queue_name} holds none of them (for example {}); the queue records them as done: inspect or remove the run's keys in the queue backend, then resume",
                        outstanding.len(),
                        self.store.describe(),
                        sample.join(", ")
                    );
                }
                warn!(
                    run = %self.plan.run_id,
                    phase,
                    jobs = outstanding.len(),
                    queue = %queue_name,
                    "jobs missing from the queue (was its data lost?); enqueuing them again"
                );
                self.enqueue(queue_name, &jobs, &outstanding).await?;
                requeued += outstanding.len() as u64;
                requeues_without_effect += 1;
            }
            self.announce(phase, done, total).await?;
            tokio::time::sleep(self.options.poll_interval).await;
        }
        let outcomes = outcomes.into_iter().flatten().collect::<Vec<T>>();
        if outcomes.len() != jobs.len() {
            bail!(
                "internal error: {phase} barrier passed with {} of {} outcomes",
                outcomes.len(),
                jobs.len()
            );
        }
        info!(run = %self.plan.run_id, phase, retries = queue_stats.retries, requeued, "phase done");
        Ok(PhaseResult {
            outcomes,
            retries: queue_stats.retries,
            requeued,
        })
    }

    /// Fails the run when a job this phase still needs has exhausted its attempts.
    async fn fail_on_dead_letters(
        &self,
        phase: &str,
        queue_name: &str,
        outstanding: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let dead = self
            .queue_call("dead letters", || self.queue.dead_letters(queue_name))
            .await?;
        let blocking: Vec<String> = dead
            .iter()
            .filter(|letter| outstanding.contains(&letter.job_id))
            .map(|letter| {
                format!(
                    "{phase} job {} failed for good after {} attempts: {}",
                    letter.job_id, letter.attempts, letter.last_error
                )
            })
            .collect();
        if blocking.is_empty() {
            return Ok(());
        }
        let shown = blocking.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ");
        let more = blocking
            .len()
            .checked_sub(10)
            .filter(|extra| *extra > 0)
            .map(|extra| format!("\n  ... and {extra} more"))
            .unwrap_or_default();
        bail!(
            "run {}: {} {phase} job(s) were dead-lettered; nothing was committed:\n  {shown}{more}\nfix the cause, then rerun with a new --run-id (this run's queue keeps its dead letters)",
            self.plan.run_id,
            blocking.len()
        )
    }
}

/// Workers that leave the run alone because their fingerprint differs, as the coordinator
/// last read their reports from the queue backend.
#[derive(Default)]
struct MismatchWatch {
    read: Option<Instant>,
    /// Current reports: worker → components that differ.
    workers: BTreeMap<String, Vec<String>>,
}

/// Mismatch reports are read at most this often.
const MISMATCH_REFRESH: Duration = Duration::from_secs(5);

impl MismatchWatch {
    /// Re-reads the reports when due; warns once about each worker newly reported (or
    /// reported with other components). A queue that cannot be read keeps the last answer.
    async fn refresh(&mut self, queue: &dyn Queue, run_id: &str) {
        if self.read.is_some_and(|at| at.elapsed() < MISMATCH_REFRESH) {
            return;
        }
        self.read = Some(Instant::now());
        let Ok(reports) = queue.mismatches(run_id).await else {
            return;
        };
        let now = unix_ms();
        let current: BTreeMap<String, Vec<String>> = reports
            .into_iter()
            .filter(|report| report.is_current(now))
            .map(|report| (report.worker, report.components))
            .collect();
        for (worker, components) in &current {
            if self.workers.get(worker) != Some(components) {
                warn!(
                    run = %run_id,
                    worker = %worker,
                    components = %components.join(","),
                    "a worker leaves this run alone: its fingerprint differs from the run's (see its log for details)"
                );
            }
        }
        self.workers = current;
    }

    /// ` | mismatched workers 2 (salt, geoip)` for the progress line, or nothing.
    fn note(&self) -> String {
        if self.workers.is_empty() {
            return String::new();
        }
        let components: BTreeSet<&str> = self.workers.values().flatten().map(String::as_str).collect();
        format!(
            " | mismatched workers {} ({})",
            self.workers.len(),
            components.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn progress_line(
    phase: &str,
    unit: &str,
    done: u64,
    total: u64,
    done_here: u64,
    rows: u64,
    elapsed: Duration,
    queue_stats: &QueueStats,
) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let rate = rows as f64 / seconds;
    let eta = if done_here > 0 && done < total {
        format!("{:.0}s", seconds / done_here as f64 * (total - done) as f64)
    } else {
        "-".to_string()
    };
    format!(
        "{phase:>4}: jobs {done}/{total} | {rows} {unit} | {rate:.0} {unit}/s | eta {eta} | retries {} | dead letters {}",
        queue_stats.retries, queue_stats.dead
    )
}
