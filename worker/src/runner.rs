//! The worker loop: lease a job, run it while a heartbeat keeps the lease, record the
//! completion once or report the failure so the queue retries or dead-letters it. Stateless:
//! everything a job needs is in its payload and the store. Queue trouble (a Redis restart) is
//! ridden out with backoff; it never stops the loop, only `stop` does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue::{Completion, FailureOutcome, Lease, Queue, QueueError, RunAnnouncement};
use shared::jobs::JobPayload;
use shared::retry::Backoff;
use storage::ObjectStore;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::enrich::Enrichment;
use crate::jobs::run_job;
use crate::run_check::RunCheck;

/// Where a runner looks for jobs.
#[derive(Debug, Clone)]
pub enum QueueSource {
    /// These queues, highest priority first (embedded workers, `worker run --run RUN`).
    Fixed(Vec<String>),
    /// The queues of every run coordinators announce in the queue backend that need one of
    /// `capabilities` (`cpu`, `gpu`; see [`shared::jobs::queue_capability`]), re-read this often.
    Announced {
        refresh: Duration,
        capabilities: Vec<String>,
        /// Only this run (`worker run --run RUN`); None = every announced run.
        run: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub worker_name: String,
    pub queues: QueueSource,
    pub heartbeat_interval: Duration,
    pub idle_poll: Duration,
    pub enrichment: Arc<Enrichment>,
    /// Told about every job and queue error (metrics); None for the embedded workers.
    pub observer: Option<Arc<dyn RunnerObserver>>,
    /// Compares each announced run's fingerprint with this worker's before serving it; None
    /// for the embedded workers, which share their coordinator's resources.
    pub run_check: Option<Arc<RunCheck>>,
}

/// How one leased job ended for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// This worker recorded the completion.
    Completed,
    /// The job ran, but another worker had recorded it first (a reclaimed or duplicate lease).
    Duplicate,
    /// The job failed; the queue retries it.
    Failed,
    /// The job failed for the last time.
    DeadLettered,
    /// The job ran but the queue could not be told; its lease expires and a rerun is a no-op.
    Unrecorded,
}

/// Hooks for metrics. Implementations must be cheap and must not block.
pub trait RunnerObserver: Send + Sync + std::fmt::Debug {
    /// A job was leased (`kind` is `map`, `partition` or `invalid`).
    fn job_started(&self, _kind: &'static str, _lease: &Lease) {}
    fn job_finished(&self, _kind: &'static str, _end: JobEnd, _elapsed: Duration, _rows: u64) {}
    /// A queue call failed (it is retried or the loop backs off).
    fn queue_error(&self, _operation: &'static str, _error: &QueueError) {}
    /// The lease expired while the job ran and another worker may hold it now.
    fn lease_lost(&self, _kind: &'static str) {}
    /// This worker's fingerprint differs from `run`'s in `components` (empty: it matches again,
    /// or the run is gone), so it leaves the run's jobs alone.
    fn run_mismatch(&self, _run: &str, _components: &[&'static str]) {}
}

/// Counters a runner updates for progress lines and metrics.
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub rows: AtomicU64,
}

/// Backoff of the loop itself while the queue does not answer.
const LOOP_BACKOFF: Backoff = Backoff {
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
    max_attempts: u32::MAX,
};

/// Runs jobs until `stop` turns true; the current job is finished first.
pub async fn run_worker_loop(
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    options: RunnerOptions,
    mut stop: watch::Receiver<bool>,
    stats: Arc<RunnerStats>,
) -> anyhow::Result<()> {
    let mut discovery = Discovery::new(options.queues.clone(), store.describe());
    let mut consecutive_failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let queues = discovery.queues(queue.as_ref(), &options).await;
        let mut leased = Ok(None);
        for queue_name in &queues {
            leased = queue.lease(queue_name, &options.worker_name).await;
            if !matches!(leased, Ok(None)) {
                break;
            }
        }
        let pause = match leased {
            Ok(Some(lease)) => {
                consecutive_failures = 0;
                process_lease(&store, &queue, &options, &stats, lease).await;
                continue;
            }
            Ok(None) => {
                consecutive_failures = 0;
                options.idle_poll
            }
            Err(error) => {
                consecutive_failures = consecutive_failures.saturating_add(1);
                report_queue_error(&options, "lease", &error);
                LOOP_BACKOFF.delay(consecutive_failures).max(options.idle_poll)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The queue list of a runner, re-read from the announced runs when it is due.
struct Discovery {
    source: QueueSource,
    /// This worker's store: runs of other stores sharing the queue backend are left alone.
    store: String,
    current: Vec<String>,
    refreshed: Option<Instant>,
}

impl Discovery {
    fn new(source: QueueSource, store: String) -> Discovery {
        let current = match &source {
            QueueSource::Fixed(queues) => queues.clone(),
            QueueSource::Announced { .. } => Vec::new(),
        };
        Discovery {
            source,
            store,
            current,
            refreshed: None,
        }
    }

    async fn queues(&mut self, queue: &dyn Queue, options: &RunnerOptions) -> Vec<String> {
        let QueueSource::Announced {
            refresh,
            capabilities,
            run: only,
        } = &self.source
        else {
            return self.current.clone();
        };
        if self.refreshed.is_some_and(|at| at.elapsed() < *refresh) {
            return self.current.clone();
        }
        self.refreshed = Some(Instant::now());
        match queue.active_runs().await {
            Ok(runs) => {
                let runs: Vec<RunAnnouncement> = runs
                    .into_iter()
                    .filter(|run| run.serves_store(&self.store))
                    .filter(|run| only.as_ref().is_none_or(|only| *only == run.run_id))
                    .collect();
                let mut queues = Vec::new();
                for run in &runs {
                    let served: Vec<String> = run
                        .queues
                        .iter()
                        .filter(|name| {
                            let needed = shared::jobs::queue_capability(name);
                            capabilities.iter().any(|capability| capability == needed)
                        })
                        .cloned()
                        .collect();
                    match &options.run_check {
                        Some(check) => queues.extend(
                            check
                                .admitted_queues(run, served, queue, options.observer.as_ref())
                                .await,
                        ),
                        None => queues.extend(served),
                    }
                }
                if let Some(check) = &options.run_check {
                    let announced = runs.iter().map(|run| run.run_id.clone()).collect();
                    check.retain(&announced, options.observer.as_ref());
                }
                if queues != self.current {
                    info!(worker = %options.worker_name, queues = ?queues, "serving queues");
                }
                self.current = queues;
            }
            // Keep serving the queues known so far; the next refresh tries again.
            Err(error) => report_queue_error(options, "active runs", &error),
        }
        self.current.clone()
    }
}

fn report_queue_error(options: &RunnerOptions, operation: &'static str, error: &QueueError) {
    warn!(worker = %options.worker_name, operation, retryable = error.is_retryable(), error = %error, "queue call failed");
    if let Some(observer) = &options.observer {
        observer.queue_error(operation, error);
    }
}

fn job_kind(payload: &Result<JobPayload, serde_json::Error>) -> &'static str {
    match payload {
        Ok(JobPayload::Map(_)) => "map",
        Ok(JobPayload::Partition(_)) => "partition",
        Ok(JobPayload::Finalise(_)) => "finalise",
        Err(_) => "invalid",
    }
}

async fn process_lease(
    store: &Arc<dyn ObjectStore>,
    queue: &Arc<dyn Queue>,
    options: &RunnerOptions,
    stats: &RunnerStats,
    lease: Lease,
) {
    let started = Instant::now();
    let job_id = lease.job.id.clone();
    let payload = serde_json::from_value::<JobPayload>(lease.job.payload.clone());
    let kind = job_kind(&payload);
    if let Some(observer) = &options.observer {
        observer.job_started(kind, &lease);
    }
    debug!(job = %job_id, queue = %lease.queue, attempt = lease.attempt, "job leased");
    let result = match payload {
        Err(error) => Err(anyhow::anyhow!("invalid job payload: {error}")),
        Ok(payload) => {
            let job_future = run_job(store.clone(), payload, options.enrichment.clone());
            tokio::pin!(job_future);
            let mut ticker = tokio::time::interval(options.heartbeat_interval);
            ticker.tick().await;
            let mut lost = false;
            loop {
                tokio::select! {
                    result = &mut job_future => break result,
                    _ = ticker.tick() => match queue.heartbeat(&lease).await {
                        Ok(true) => {}
                        Ok(false) if !lost => {
                            lost = true;
                            warn!(job = %job_id, worker = %options.worker_name, "lease lost while working; finishing anyway");
                            if let Some(observer) = &options.observer {
                                observer.lease_lost(kind);
                            }
                        }
                        Ok(false) => {}
                        // The next tick tries again; the lease outlives a few missed beats.
                        Err(error) => report_queue_error(options, "heartbeat", &error),
                    },
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let (end, rows) = match result {
        Ok(report) => {
            stats.jobs_done.fetch_add(1, Ordering::Relaxed);
            stats.rows.fetch_add(report.rows, Ordering::Relaxed);
            let completion = Backoff::CONTROL
                .retry(
                    || queue.complete(&lease),
                    QueueError::is_retryable,
                    |error, _| report_queue_error(options, "complete", error),
                )
                .await;
            let end = match completion {
                Ok(Completion::Recorded) => {
                    info!(job = %job_id, queue = %lease.queue, attempt = lease.attempt, elapsed_ms = elapsed.as_millis() as u64, rows = report.rows, "job done");
                    JobEnd::Completed
                }
                Ok(Completion::AlreadyComplete) => {
                    info!(job = %job_id, queue = %lease.queue, "job was already completed by another worker");
                    JobEnd::Duplicate
                }
                Err(error) => {
                    report_queue_error(options, "complete", &error);
                    warn!(job = %job_id, queue = %lease.queue, "completion not recorded; the lease expires and the rerun finds the marker");
                    JobEnd::Unrecorded
                }
            };
            (end, report.rows)
        }
        Err(error) => {
            stats.jobs_failed.fetch_add(1, Ordering::Relaxed);
            let message = format!("{error:#}");
            let failure = Backoff::CONTROL
                .retry(
                    || queue.fail(&lease, &message),
                    QueueError::is_retryable,
                    |error, _| report_queue_error(options, "fail", error),
                )
                .await;
            let end = match failure {
                Ok(FailureOutcome::WillRetry { attempt }) => {
                    warn!(job = %job_id, queue = %lease.queue, next_attempt = attempt, error = %message, "job failed, will retry");
                    JobEnd::Failed
                }
                Ok(FailureOutcome::DeadLettered) => {
                    warn!(job = %job_id, queue = %lease.queue, error = %message, "job failed for the last time, dead-lettered");
                    JobEnd::DeadLettered
                }
                Err(queue_error) => {
                    report_queue_error(options, "fail", &queue_error);
                    warn!(job = %job_id, queue = %lease.queue, error = %message, "job failed and the queue could not be told; the lease expires");
                    JobEnd::Failed
                }
            };
            (end, 0)
        }
    };
    if let Some(observer) = &options.observer {
        observer.job_finished(kind, end, elapsed, rows);
    }
}
