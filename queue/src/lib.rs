//! The job queue: named queues of jobs leased to workers. The [`Queue`] trait fixes the
//! semantics every backend keeps (a lease that expires unless refreshed, a bounded number of
//! attempts, a dead-letter list with the last error, completion recorded once); its backends
//! live here together: [`memory::MemoryQueue`] in process for the embedded default and
//! [`redis_queue::RedisQueue`] on Redis Streams, opened by URI with [`open_queue`].

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod memory;
pub mod open;
pub mod redis_queue;

pub use memory::MemoryQueue;
pub use open::open_queue;
pub use shared::fingerprint::MismatchReport;

/// A unit of work: `id` is unique within its queue and stable across reruns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub payload: serde_json::Value,
}

/// A job handed to one worker for a limited time.
#[derive(Debug, Clone)]
pub struct Lease {
    pub queue: String,
    pub job: Job,
    /// 1 for the first delivery.
    pub attempt: u32,
    /// Identifies this delivery to the backend (a counter in memory, a stream entry id in Redis).
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// This call recorded the completion.
    Recorded,
    /// Somebody (a duplicate or a reclaimed lease) completed the job first; discard our result.
    AlreadyComplete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    WillRetry { attempt: u32 },
    DeadLettered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job_id: String,
    pub attempts: u32,
    pub last_error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub waiting: u64,
    pub leased: u64,
    pub completed: u64,
    pub dead: u64,
    pub retries: u64,
}

/// A run whose jobs workers should serve: the run state a coordinator keeps in the queue
/// backend (Redis in production) so workers can find the run and `coordinator status` can show
/// it from another shell. It is rewritten on every watch tick, so a backend that lost its data
/// learns it again from a live coordinator; the plan and job markers stay in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAnnouncement {
    pub run_id: String,
    pub version: String,
    /// The store the run lives in (`ObjectStore::describe`), so a worker of another store
    /// sharing the same Redis leaves the run alone. Empty matches every store.
    #[serde(default)]
    pub store: String,
    /// Queues to poll, highest priority first.
    pub queues: Vec<String>,
    /// `map`, `partition` or `commit`.
    pub phase: String,
    pub jobs_done: u64,
    pub jobs_total: u64,
    /// Unix milliseconds of the coordinator's latest announcement.
    pub updated_ms: u64,
    /// What a worker must have loaded to serve the run (salt key id, GeoIP databases, models,
    /// code version): a worker whose own differs leaves the run alone. None from coordinators
    /// older than fingerprints: every worker serves those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<shared::fingerprint::ResourceFingerprint>,
}

impl RunAnnouncement {
    /// Whether a worker of the store described as `store` should serve this run.
    pub fn serves_store(&self, store: &str) -> bool {
        let trimmed = |location: &str| location.trim_end_matches('/').to_string();
        if self.store.is_empty() || trimmed(&self.store) == trimmed(store) {
            return true;
        }
        if self.store.contains("://") || store.contains("://") {
            return false;
        }
        // Two spellings of one local directory (relative and absolute paths).
        match (std::fs::canonicalize(&self.store), std::fs::canonicalize(store)) {
            (Ok(announced), Ok(mine)) => announced == mine,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub lease_timeout: Duration,
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            lease_timeout: Duration::from_secs(120),
            max_attempts: 4,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue backend error: {message}")]
    Backend { message: String, retryable: bool },
}

#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Adds jobs; a job id already known to the queue (waiting, leased, done or dead) is ignored.
    async fn enqueue(&self, queue: &str, jobs: Vec<Job>) -> Result<(), QueueError>;
    /// Takes the next waiting job, first reclaiming leases that expired.
    async fn lease(&self, queue: &str, worker: &str) -> Result<Option<Lease>, QueueError>;
    /// Extends the lease; `false` when the lease was lost (expired and taken by another).
    async fn heartbeat(&self, lease: &Lease) -> Result<bool, QueueError>;
    async fn complete(&self, lease: &Lease) -> Result<Completion, QueueError>;
    async fn fail(&self, lease: &Lease, error: &str) -> Result<FailureOutcome, QueueError>;
    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError>;
    async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, QueueError>;
    /// Publishes (or refreshes) a run's state so workers serve its queues.
    async fn announce_run(&self, run: &RunAnnouncement) -> Result<(), QueueError>;
    /// Removes a run from the active set (it committed or failed for good).
    async fn withdraw_run(&self, run_id: &str) -> Result<(), QueueError>;
    /// Every announced run, sorted by run id.
    async fn active_runs(&self) -> Result<Vec<RunAnnouncement>, QueueError>;
    /// Records (or refreshes) a worker's report that its fingerprint does not match a run's;
    /// the reports of a run go when the run is withdrawn.
    async fn report_mismatch(&self, report: &MismatchReport) -> Result<(), QueueError>;
    /// The mismatch reports of a run, current or not, sorted by worker.
    async fn mismatches(&self, run_id: &str) -> Result<Vec<MismatchReport>, QueueError>;
}

impl QueueError {
    /// Whether repeating the call may succeed (a dropped connection, a timeout).
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Backend { retryable, .. } => *retryable,
        }
    }
}
