//! The in-process backend of [`crate::Queue`] for the embedded default.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use crate::{
    Completion, DeadLetter, FailureOutcome, Job, Lease, MismatchReport, Queue, QueueConfig, QueueError, QueueStats,
    RunAnnouncement,
};

#[derive(Debug)]
struct LeasedJob {
    job: Job,
    attempt: u32,
    token: String,
    expires: Instant,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: VecDeque<(Job, u32)>,
    leased: HashMap<String, LeasedJob>,
    known: HashSet<String>,
    completed: HashSet<String>,
    dead: BTreeMap<String, DeadLetter>,
    last_errors: HashMap<String, String>,
    retries: u64,
}

/// In-process queue with the same lease/retry/dead-letter semantics as the Redis backend.
#[derive(Debug)]
pub struct MemoryQueue {
    config: QueueConfig,
    state: Mutex<HashMap<String, QueueState>>,
    runs: Mutex<BTreeMap<String, RunAnnouncement>>,
    /// (run id, worker) → the worker's latest mismatch report.
    mismatches: Mutex<BTreeMap<(String, String), MismatchReport>>,
    next_token: std::sync::atomic::AtomicU64,
}

impl MemoryQueue {
    pub fn new(config: QueueConfig) -> MemoryQueue {
        MemoryQueue {
            config,
            state: Mutex::new(HashMap::new()),
            runs: Mutex::new(BTreeMap::new()),
            mismatches: Mutex::new(BTreeMap::new()),
            next_token: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn with_queue<T>(&self, queue: &str, work: impl FnOnce(&mut QueueState) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(guard) => guard,
            // A panic elsewhere cannot leave the maps half-updated in a way that matters here.
            Err(poisoned) => poisoned.into_inner(),
        };
        work(guard.entry(queue.to_string()).or_default())
    }

    fn with_runs<T>(&self, work: impl FnOnce(&mut BTreeMap<String, RunAnnouncement>) -> T) -> T {
        let mut guard = match self.runs.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        work(&mut guard)
    }

    fn with_mismatches<T>(&self, work: impl FnOnce(&mut BTreeMap<(String, String), MismatchReport>) -> T) -> T {
        let mut guard = match self.mismatches.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        work(&mut guard)
    }

    fn reclaim_expired(&self, state: &mut QueueState, now: Instant) {
        let expired: Vec<String> = state
            .leased
            .iter()
            .filter(|(_, leased)| leased.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for job_id in expired {
            let Some(leased) = state.leased.remove(&job_id) else {
                continue;
            };
            let error = state
                .last_errors
                .get(&job_id)
                .cloned()
                .unwrap_or_else(|| "lease expired".to_string());
            self.retry_or_bury(state, leased.job, leased.attempt, error);
        }
    }

    fn retry_or_bury(&self, state: &mut QueueState, job: Job, attempt: u32, error: String) -> FailureOutcome {
        state.last_errors.insert(job.id.clone(), error.clone());
        if attempt >= self.config.max_attempts {
            state.dead.insert(
                job.id.clone(),
                DeadLetter {
                    job_id: job.id,
                    attempts: attempt,
                    last_error: error,
                },
            );
            return FailureOutcome::DeadLettered;
        }
        state.retries += 1;
        state.waiting.push_back((job, attempt));
        FailureOutcome::WillRetry { attempt: attempt + 1 }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, queue: &str, jobs: Vec<Job>) -> Result<(), QueueError> {
        self.with_queue(queue, |state| {
            for job in jobs {
                if state.known.insert(job.id.clone()) {
                    state.waiting.push_back((job, 0));
                }
            }
        });
        Ok(())
    }

    async fn lease(&self, queue: &str, _worker: &str) -> Result<Option<Lease>, QueueError> {
        let now = Instant::now();
        let token = self
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let lease = self.with_queue(queue, |state| {
            self.reclaim_expired(state, now);
            while let Some((job, previous_attempts)) = state.waiting.pop_front() {
                if state.completed.contains(&job.id) {
                    continue;
                }
                let attempt = previous_attempts + 1;
                state.leased.insert(
                    job.id.clone(),
                    LeasedJob {
                        job: job.clone(),
                        attempt,
                        token: token.clone(),
                        expires: now + self.config.lease_timeout,
                    },
                );
                return Some(Lease {
                    queue: queue.to_string(),
                    job,
                    attempt,
                    token,
                });
            }
            None
        });
        Ok(lease)
    }

    async fn heartbeat(&self, lease: &Lease) -> Result<bool, QueueError> {
        let now = Instant::now();
        Ok(
            self.with_queue(&lease.queue, |state| match state.leased.get_mut(&lease.job.id) {
                Some(leased) if leased.token == lease.token => {
                    leased.expires = now + self.config.lease_timeout;
                    true
                }
                _ => false,
            }),
        )
    }

    async fn complete(&self, lease: &Lease) -> Result<Completion, QueueError> {
        Ok(self.with_queue(&lease.queue, |state| {
            if !state.completed.insert(lease.job.id.clone()) {
                return Completion::AlreadyComplete;
            }
            state.leased.remove(&lease.job.id);
            state.dead.remove(&lease.job.id);
            state.waiting.retain(|(job, _)| job.id != lease.job.id);
            Completion::Recorded
        }))
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<FailureOutcome, QueueError> {
        Ok(self.with_queue(&lease.queue, |state| {
            match state.leased.get(&lease.job.id) {
                Some(leased) if leased.token == lease.token => {
                    state.leased.remove(&lease.job.id);
                    self.retry_or_bury(state, lease.job.clone(), lease.attempt, error.to_string())
                }
                // The lease was already reclaimed: the job is retried or buried by that path.
                _ => {
                    state.last_errors.insert(lease.job.id.clone(), error.to_string());
                    if state.dead.contains_key(&lease.job.id) {
                        FailureOutcome::DeadLettered
                    } else {
                        FailureOutcome::WillRetry {
                            attempt: lease.attempt + 1,
                        }
                    }
                }
            }
        }))
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        Ok(self.with_queue(queue, |state| QueueStats {
            waiting: state.waiting.len() as u64,
            leased: state.leased.len() as u64,
            completed: state.completed.len() as u64,
            dead: state.dead.len() as u64,
            retries: state.retries,
        }))
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.with_queue(queue, |state| state.dead.values().cloned().collect()))
    }

    async fn announce_run(&self, run: &RunAnnouncement) -> Result<(), QueueError> {
        self.with_runs(|runs| runs.insert(run.run_id.clone(), run.clone()));
        Ok(())
    }

    async fn withdraw_run(&self, run_id: &str) -> Result<(), QueueError> {
        self.with_runs(|runs| runs.remove(run_id));
        self.with_mismatches(|reports| reports.retain(|(run, _), _| run != run_id));
        Ok(())
    }

    async fn active_runs(&self) -> Result<Vec<RunAnnouncement>, QueueError> {
        Ok(self.with_runs(|runs| runs.values().cloned().collect()))
    }

    async fn report_mismatch(&self, report: &MismatchReport) -> Result<(), QueueError> {
        self.with_mismatches(|reports| reports.insert((report.run_id.clone(), report.worker.clone()), report.clone()));
        Ok(())
    }

    async fn mismatches(&self, run_id: &str) -> Result<Vec<MismatchReport>, QueueError> {
        Ok(self.with_mismatches(|reports| {
            reports
                .iter()
                .filter(|((run, _), _)| run == run_id)
                .map(|(_, report)| report.clone())
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn job(id: &str) -> Job {
        Job {
            id: id.to_string(),
            payload: serde_json::json!({"n": id}),
        }
    }

    fn quick_queue(max_attempts: u32) -> MemoryQueue {
        MemoryQueue::new(QueueConfig {
            lease_timeout: Duration::from_millis(50),
            max_attempts,
        })
    }

    #[tokio::test]
    async fn jobs_are_delivered_once_and_completion_is_recorded_once() {
        let queue = quick_queue(3);
        queue.enqueue("map", vec![job("a"), job("b"), job("a")]).await.unwrap();
        let first = queue.lease("map", "w1").await.unwrap().unwrap();
        let second = queue.lease("map", "w2").await.unwrap().unwrap();
        assert_ne!(first.job.id, second.job.id);
        assert!(queue.lease("map", "w3").await.unwrap().is_none());
        assert_eq!(queue.complete(&first).await.unwrap(), Completion::Recorded);
        assert_eq!(queue.complete(&first).await.unwrap(), Completion::AlreadyComplete);
        queue.enqueue("map", vec![job(&first.job.id)]).await.unwrap();
        assert_eq!(queue.stats("map").await.unwrap().waiting, 0);
    }

    #[tokio::test]
    async fn an_expired_lease_is_reclaimed_and_the_late_worker_cannot_commit_twice() {
        let queue = quick_queue(3);
        queue.enqueue("map", vec![job("a")]).await.unwrap();
        let slow = queue.lease("map", "slow").await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let fast = queue.lease("map", "fast").await.unwrap().unwrap();
        assert_eq!(fast.attempt, 2);
        assert!(!queue.heartbeat(&slow).await.unwrap());
        assert_eq!(queue.complete(&fast).await.unwrap(), Completion::Recorded);
        assert_eq!(queue.complete(&slow).await.unwrap(), Completion::AlreadyComplete);
        assert_eq!(queue.stats("map").await.unwrap().retries, 1);
    }

    #[tokio::test]
    async fn heartbeats_keep_a_lease_alive() {
        let queue = quick_queue(3);
        queue.enqueue("map", vec![job("a")]).await.unwrap();
        let lease = queue.lease("map", "w").await.unwrap().unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            assert!(queue.heartbeat(&lease).await.unwrap());
        }
        assert!(queue.lease("map", "other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn announced_runs_are_listed_until_withdrawn() {
        let queue = quick_queue(3);
        let run = |run_id: &str, done: u64| RunAnnouncement {
            run_id: run_id.to_string(),
            version: "v1".to_string(),
            store: "s3://bucket/prefix/".to_string(),
            queues: vec![format!("{run_id}/partition"), format!("{run_id}/map")],
            phase: "map".to_string(),
            jobs_done: done,
            jobs_total: 10,
            updated_ms: 1,
            fingerprint: None,
        };
        queue.announce_run(&run("b", 0)).await.unwrap();
        queue.announce_run(&run("a", 0)).await.unwrap();
        queue.announce_run(&run("b", 4)).await.unwrap();
        assert_eq!(queue.active_runs().await.unwrap(), vec![run("a", 0), run("b", 4)]);
        let report = |run_id: &str, worker: &str| MismatchReport {
            run_id: run_id.to_string(),
            worker: worker.to_string(),
            components: vec!["salt".to_string()],
            updated_ms: 1,
        };
        queue.report_mismatch(&report("a", "w2")).await.unwrap();
        queue.report_mismatch(&report("a", "w1")).await.unwrap();
        queue.report_mismatch(&report("b", "w1")).await.unwrap();
        assert_eq!(
            queue.mismatches("a").await.unwrap(),
            vec![report("a", "w1"), report("a", "w2")]
        );
        queue.withdraw_run("a").await.unwrap();
        assert_eq!(queue.active_runs().await.unwrap(), vec![run("b", 4)]);
        assert!(queue.mismatches("a").await.unwrap().is_empty());
        assert_eq!(queue.mismatches("b").await.unwrap(), vec![report("b", "w1")]);
    }

    #[test]
    fn a_run_is_served_only_by_workers_of_its_store() {
        let directory = tempfile::tempdir().unwrap();
        let announced = |store: &str| RunAnnouncement {
            run_id: "r".into(),
            version: "v".into(),
            store: store.into(),
            queues: Vec::new(),
            phase: "map".into(),
            jobs_done: 0,
            jobs_total: 0,
            updated_ms: 0,
            fingerprint: None,
        };
        assert!(announced("s3://b/p/").serves_store("s3://b/p"));
        assert!(!announced("s3://b/p/").serves_store("s3://b/other/"));
        assert!(!announced("s3://b/p/").serves_store("/data/p"));
        assert!(announced("").serves_store("anything"));
        let absolute = directory.path().display().to_string();
        let dotted = directory.path().join(".").display().to_string();
        assert!(announced(&absolute).serves_store(&dotted));
        assert!(!announced(&absolute).serves_store("/no/such/store"));
    }

    #[tokio::test]
    async fn failures_retry_then_dead_letter_with_the_last_error() {
        let queue = quick_queue(2);
        queue.enqueue("map", vec![job("a")]).await.unwrap();
        let first = queue.lease("map", "w").await.unwrap().unwrap();
        assert_eq!(
            queue.fail(&first, "boom 1").await.unwrap(),
            FailureOutcome::WillRetry { attempt: 2 }
        );
        let second = queue.lease("map", "w").await.unwrap().unwrap();
        assert_eq!(second.attempt, 2);
        assert_eq!(
            queue.fail(&second, "boom 2").await.unwrap(),
            FailureOutcome::DeadLettered
        );
        assert!(queue.lease("map", "w").await.unwrap().is_none());
        let dead = queue.dead_letters("map").await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error, "boom 2");
        assert_eq!(dead[0].attempts, 2);
    }
}
