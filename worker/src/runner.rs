//! The worker loop: lease a job, run it while a heartbeat keeps the lease, record the
//! completion once or report the failure so the queue retries or dead-letters it. Stateless:
//! everything a job needs is in its payload and the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::jobs::JobPayload;
use shared::queue::{Completion, FailureOutcome, Lease, Queue};
use shared::store::ObjectStore;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::enrich::Enrichment;
use crate::jobs::run_job;

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub worker_name: String,
    /// Queues polled in order: earlier queues have priority.
    pub queues: Vec<String>,
    pub heartbeat_interval: Duration,
    pub idle_poll: Duration,
    pub enrichment: Arc<Enrichment>,
}

/// Counters a runner updates for progress lines and metrics.
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub rows: AtomicU64,
}

/// Runs jobs until `stop` turns true; the current job is finished first.
pub async fn run_worker_loop(
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    options: RunnerOptions,
    mut stop: watch::Receiver<bool>,
    stats: Arc<RunnerStats>,
) -> anyhow::Result<()> {
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let mut leased = None;
        for queue_name in &options.queues {
            if let Some(lease) = queue.lease(queue_name, &options.worker_name).await? {
                leased = Some(lease);
                break;
            }
        }
        match leased {
            Some(lease) => process_lease(&store, &queue, &options, &stats, lease).await?,
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(options.idle_poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

async fn process_lease(
    store: &Arc<dyn ObjectStore>,
    queue: &Arc<dyn Queue>,
    options: &RunnerOptions,
    stats: &RunnerStats,
    lease: Lease,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let job_id = lease.job.id.clone();
    let result = match serde_json::from_value::<JobPayload>(lease.job.payload.clone()) {
        Err(error) => Err(anyhow::anyhow!("invalid job payload: {error}")),
        Ok(payload) => {
            let job_future = run_job(store.clone(), payload, options.enrichment.clone());
            tokio::pin!(job_future);
            let mut ticker = tokio::time::interval(options.heartbeat_interval);
            ticker.tick().await;
            loop {
                tokio::select! {
                    result = &mut job_future => break result,
                    _ = ticker.tick() => {
                        if !queue.heartbeat(&lease).await? {
                            warn!(job = %job_id, worker = %options.worker_name, "lease lost while working; finishing anyway");
                        }
                    }
                }
            }
        }
    };
    match result {
        Ok(report) => {
            stats.jobs_done.fetch_add(1, Ordering::Relaxed);
            stats.rows.fetch_add(report.rows, Ordering::Relaxed);
            match queue.complete(&lease).await? {
                Completion::Recorded => {
                    info!(job = %job_id, queue = %lease.queue, attempt = lease.attempt, elapsed_ms = started.elapsed().as_millis() as u64, "job done")
                }
                Completion::AlreadyComplete => {
                    info!(job = %job_id, queue = %lease.queue, "job was already completed by another worker")
                }
            }
        }
        Err(error) => {
            stats.jobs_failed.fetch_add(1, Ordering::Relaxed);
            let message = format!("{error:#}");
            match queue.fail(&lease, &message).await? {
                FailureOutcome::WillRetry { attempt } => {
                    warn!(job = %job_id, queue = %lease.queue, next_attempt = attempt, error = %message, "job failed, will retry")
                }
                FailureOutcome::DeadLettered => {
                    warn!(job = %job_id, queue = %lease.queue, error = %message, "job failed for the last time, dead-lettered")
                }
            }
        }
    }
    Ok(())
}
