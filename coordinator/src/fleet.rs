//! The fleet's view of the shared queue, served over HTTP: what the autoscaler and Prometheus
//! read. Work is found by pool (`cpu`, `gpu`), never by run id: every announced run's queues
//! are summed into the backlog of the pool that serves them, so one autoscaled fleet serves any
//! number of runs at once and its manifests never name a run.
//!
//! `coordinator fleet` serves it for the whole queue (one long-lived Deployment per fleet, which
//! KEDA's `metrics-api` triggers poll); `coordinator run --listen` serves the same endpoint for
//! the duration of one run. Endpoints:
//! - `/metrics`: Prometheus text: per run its phase and jobs done/total, per run and queue the
//!   jobs by state (waiting, leased, completed, dead) and retries, per pool the backlog;
//! - `/pools/<pool>`: `{"pool": "cpu", "backlog": N, "runs": K}`, the number a pool scales on
//!   (jobs waiting + leased, exactly the work outstanding); 503 while the queue cannot be read,
//!   so the autoscaler holds its fallback instead of scaling to zero;
//! - `/healthz`: 200 once the queue has been read, 503 before or while it cannot be.
//!
//! The queue is read by one sampler every `interval`, not per request, so scrapes cost Redis
//! nothing. Labels are run ids, versions, phases, queue kinds and pools only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{Encoder, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use queue::{Queue, QueueStats, RunAnnouncement};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;
use worker::service::http::{serve_with, Reply};

/// The pools a fleet has, in the order they are reported.
pub const POOLS: [&str; 2] = ["cpu", "gpu"];

/// One queue of an announced run, as sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    /// The queue name (`<run id>/<kind>`).
    pub name: String,
    /// `map`, `partition`, `partition-gpu` or `finalise`.
    pub kind: String,
    /// The pool whose workers serve it.
    pub pool: &'static str,
    pub stats: QueueStats,
}

/// One announced run and its queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    pub run: RunAnnouncement,
    pub queues: Vec<QueueView>,
    /// Current reports of workers that leave the run alone (their fingerprint differs).
    pub mismatches: Vec<queue::MismatchReport>,
}

/// Everything the endpoint reports, read at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSnapshot {
    pub runs: Vec<RunView>,
}

/// A pool's outstanding work, the value an autoscaler reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolBacklog {
    pub pool: String,
    /// Jobs waiting plus jobs leased, over every run the pool serves.
    pub backlog: u64,
    /// Runs with work outstanding in this pool.
    pub runs: u64,
}

/// The kind part of a queue name `<run id>/<kind>`.
fn kind_of(queue: &str) -> &str {
    queue.rsplit_once('/').map_or(queue, |(_, kind)| kind)
}

/// Reads every announced run (of the store described as `store`, when given) and the stats of
/// its queues.
pub async fn snapshot(queue: &dyn Queue, store: Option<&str>) -> Result<FleetSnapshot, queue::QueueError> {
    let mut runs = Vec::new();
    for run in queue.active_runs().await? {
        if store.is_some_and(|store| !run.serves_store(store)) {
            continue;
        }
        let mut queues = Vec::with_capacity(run.queues.len());
        for name in &run.queues {
            let stats = queue.stats(name).await?;
            let kind = kind_of(name).to_string();
            queues.push(QueueView {
                name: name.clone(),
                pool: shared::jobs::queue_capability(&kind),
                kind,
                stats,
            });
        }
        let now_ms = unix_ms();
        let mismatches = queue
            .mismatches(&run.run_id)
            .await?
            .into_iter()
            .filter(|report| report.is_current(now_ms))
            .collect();
        runs.push(RunView {
            run,
            queues,
            mismatches,
        });
    }
    runs.sort_by(|left, right| left.run.run_id.cmp(&right.run.run_id));
    Ok(FleetSnapshot { runs })
}

impl FleetSnapshot {
    /// The backlog of `pool` (`cpu` or `gpu`; any other name has none).
    pub fn pool(&self, pool: &str) -> PoolBacklog {
        let mut backlog = 0;
        let mut runs = 0;
        for run in &self.runs {
            let outstanding: u64 = run
                .queues
                .iter()
                .filter(|queue| queue.pool == pool)
                .map(|queue| queue.stats.waiting + queue.stats.leased)
                .sum();
            backlog += outstanding;
            runs += u64::from(outstanding > 0);
        }
        PoolBacklog {
            pool: pool.to_string(),
            backlog,
            runs,
        }
    }

    /// The Prometheus text exposition of the snapshot; `up` says whether the latest read of
    /// the queue succeeded (the figures are then the last good ones).
    pub fn render(&self, up: bool) -> Result<String, prometheus::Error> {
        let registry = Registry::new_custom(Some("wildchat_coordinator".to_string()), None)?;
        let queue_up = IntGauge::new("queue_up", "1 if the latest read of the queue succeeded, else 0")?;
        registry.register(Box::new(queue_up.clone()))?;
        queue_up.set(i64::from(up));
        let runs = IntGauge::new("runs", "runs announced in the queue")?;
        registry.register(Box::new(runs.clone()))?;
        runs.set(self.runs.len() as i64);
        let vector = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let phase = vector(
            "run_phase",
            "1 for the phase each announced run is in (map, partition, finalise, commit)",
            &["run", "version", "phase"],
        )?;
        let run_jobs = vector(
            "run_jobs",
            "jobs of the run's current phase, done and total",
            &["run", "state"],
        )?;
        let announced_age = vector(
            "run_announced_age_seconds",
            "seconds since the run's coordinator last announced it (a stale one has stopped)",
            &["run"],
        )?;
        let jobs = vector(
            "queue_jobs",
            "jobs of a run's queue by state: waiting, leased, completed, dead",
            &["run", "kind", "pool", "state"],
        )?;
        let retries = vector(
            "queue_retries",
            "retried attempts in a run's queue",
            &["run", "kind", "pool"],
        )?;
        let mismatched = vector(
            "mismatched_workers",
            "workers that leave the run alone because their fingerprint (salt, GeoIP, models, code) differs",
            &["run"],
        )?;
        let mismatched_components = vector(
            "mismatched_worker_components",
            "of the mismatched workers, those differing in each fingerprint component",
            &["run", "component"],
        )?;
        let backlog = vector(
            "pool_backlog_jobs",
            "jobs waiting or leased over every run a worker pool serves: what it scales on",
            &["pool"],
        )?;
        let now_ms = unix_ms();
        for view in &self.runs {
            let run = &view.run;
            phase
                .with_label_values(&[run.run_id.as_str(), run.version.as_str(), run.phase.as_str()])
                .set(1);
            run_jobs
                .with_label_values(&[run.run_id.as_str(), "done"])
                .set(run.jobs_done as i64);
            run_jobs
                .with_label_values(&[run.run_id.as_str(), "total"])
                .set(run.jobs_total as i64);
            announced_age
                .with_label_values(&[run.run_id.as_str()])
                .set((now_ms.saturating_sub(run.updated_ms) / 1000) as i64);
            mismatched
                .with_label_values(&[run.run_id.as_str()])
                .set(view.mismatches.len() as i64);
            for report in &view.mismatches {
                for component in &report.components {
                    mismatched_components
                        .with_label_values(&[run.run_id.as_str(), component.as_str()])
                        .inc();
                }
            }
            for queue in &view.queues {
                let labels = [run.run_id.as_str(), queue.kind.as_str(), queue.pool];
                for (state, value) in [
                    ("waiting", queue.stats.waiting),
                    ("leased", queue.stats.leased),
                    ("completed", queue.stats.completed),
                    ("dead", queue.stats.dead),
                ] {
                    jobs.with_label_values(&[labels[0], labels[1], labels[2], state])
                        .set(value as i64);
                }
                retries.with_label_values(&labels).set(queue.stats.retries as i64);
            }
        }
        for pool in POOLS {
            backlog.with_label_values(&[pool]).set(self.pool(pool).backlog as i64);
        }
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// What the sampler last saw.
#[derive(Debug, Default)]
struct Sampled {
    snapshot: FleetSnapshot,
    /// Whether the latest read succeeded.
    up: bool,
    /// Whether any read ever succeeded.
    read_once: bool,
}

/// The endpoint's answer for `path` given the latest sample.
fn respond(sampled: &Sampled, path: &str) -> Reply {
    match path {
        "/healthz" => {
            if sampled.up {
                Reply::new(200, Reply::PLAIN, "ok\n")
            } else {
                Reply::new(503, Reply::PLAIN, "the queue cannot be read\n")
            }
        }
        "/metrics" => match sampled.snapshot.render(sampled.up) {
            Ok(body) => Reply::new(200, Reply::PROMETHEUS, body),
            Err(error) => Reply::new(500, Reply::PLAIN, format!("cannot encode metrics: {error}\n")),
        },
        _ => match path.strip_prefix("/pools/") {
            Some(pool) if POOLS.contains(&pool) => {
                if !(sampled.up && sampled.read_once) {
                    return Reply::new(503, Reply::PLAIN, "the queue cannot be read\n");
                }
                match serde_json::to_string(&sampled.snapshot.pool(pool)) {
                    Ok(body) => Reply::new(200, Reply::JSON, body),
                    Err(error) => Reply::new(500, Reply::PLAIN, format!("cannot encode: {error}\n")),
                }
            }
            Some(pool) => Reply::new(
                404,
                Reply::PLAIN,
                format!("no pool {pool:?}: the pools are {}\n", POOLS.join(", ")),
            ),
            None => Reply::new(
                404,
                Reply::PLAIN,
                "not found: try /metrics, /pools/cpu, /pools/gpu or /healthz\n",
            ),
        },
    }
}

/// Samples the queue every `interval` and serves the endpoint on `listener` until `stop` turns
/// true. `store` limits it to the runs of one store.
pub async fn serve_fleet(
    queue: Arc<dyn Queue>,
    store: Option<String>,
    listener: TcpListener,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    let sampled = Arc::new(Mutex::new(Sampled::default()));
    let sampler = {
        let sampled = sampled.clone();
        let mut stop = stop.clone();
        async move {
            let mut failures = 0u32;
            loop {
                let read = snapshot(queue.as_ref(), store.as_deref()).await;
                {
                    let mut sampled = sampled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    match read {
                        Ok(snapshot) => {
                            sampled.snapshot = snapshot;
                            sampled.up = true;
                            sampled.read_once = true;
                            failures = 0;
                        }
                        Err(error) => {
                            sampled.up = false;
                            failures += 1;
                            // First failure and then every tenth: a down Redis does not flood the log.
                            if failures % 10 == 1 {
                                warn!(error = %error, failures, "cannot read the queue for the fleet endpoint");
                            }
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    let responder = {
        let sampled = sampled.clone();
        Arc::new(move |path: &str| {
            let sampled = sampled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            respond(&sampled, path)
        })
    };
    tokio::join!(sampler, serve_with(listener, responder, stop));
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::memory::MemoryQueue;
    use queue::{Job, QueueConfig};
    use shared::jobs::{run_queue, FINALISE_QUEUE, MAP_QUEUE, PARTITION_GPU_QUEUE, PARTITION_QUEUE};

    fn announcement(run_id: &str, store: &str, queues: Vec<String>) -> RunAnnouncement {
        RunAnnouncement {
            run_id: run_id.to_string(),
            version: format!("v-{run_id}"),
            store: store.to_string(),
            queues,
            phase: "map".to_string(),
            jobs_done: 1,
            jobs_total: 5,
            updated_ms: 0,
            fingerprint: None,
        }
    }

    fn jobs(count: usize) -> Vec<Job> {
        (0..count)
            .map(|index| Job {
                id: format!("j{index}"),
                payload: serde_json::json!({}),
            })
            .collect()
    }

    /// Two runs share the fleet: the CPU pool's backlog is the sum of both runs' CPU queues,
    /// the GPU pool's only the GPU queue, and a leased job still counts until it completes.
    #[tokio::test]
    async fn pools_sum_the_outstanding_jobs_of_every_run() {
        let queue = MemoryQueue::new(QueueConfig::default());
        let cpu_run = |run: &str| {
            vec![
                run_queue(run, PARTITION_QUEUE),
                run_queue(run, MAP_QUEUE),
                run_queue(run, FINALISE_QUEUE),
            ]
        };
        queue.announce_run(&announcement("a", "", cpu_run("a"))).await.unwrap();
        let gpu_queues = vec![
            run_queue("b", PARTITION_GPU_QUEUE),
            run_queue("b", MAP_QUEUE),
            run_queue("b", FINALISE_QUEUE),
        ];
        queue.announce_run(&announcement("b", "", gpu_queues)).await.unwrap();
        queue.enqueue(&run_queue("a", MAP_QUEUE), jobs(3)).await.unwrap();
        queue.enqueue(&run_queue("b", MAP_QUEUE), jobs(2)).await.unwrap();
        queue
            .enqueue(&run_queue("b", PARTITION_GPU_QUEUE), jobs(4))
            .await
            .unwrap();

        let lease = queue.lease(&run_queue("a", MAP_QUEUE), "w").await.unwrap().unwrap();
        let sampled = snapshot(&queue, None).await.unwrap();
        assert_eq!(sampled.pool("cpu").backlog, 5);
        assert_eq!(sampled.pool("cpu").runs, 2);
        assert_eq!(sampled.pool("gpu").backlog, 4);
        assert_eq!(sampled.pool("gpu").runs, 1);

        queue.complete(&lease).await.unwrap();
        // One worker leaves run b alone (a current report); an old report of run a is stale.
        let report = |run: &str, worker: &str, updated_ms: u64| queue::MismatchReport {
            run_id: run.to_string(),
            worker: worker.to_string(),
            components: vec!["salt".to_string(), "geoip".to_string()],
            updated_ms,
        };
        queue.report_mismatch(&report("b", "odd", unix_ms())).await.unwrap();
        queue.report_mismatch(&report("a", "gone", 1)).await.unwrap();
        let sampled = snapshot(&queue, None).await.unwrap();
        assert_eq!(sampled.pool("cpu").backlog, 4);

        let text = sampled.render(true).unwrap();
        for expected in [
            "wildchat_coordinator_mismatched_workers{run=\"a\"} 0",
            "wildchat_coordinator_mismatched_workers{run=\"b\"} 1",
            "wildchat_coordinator_mismatched_worker_components{component=\"salt\",run=\"b\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in {text}");
        }
        assert!(
            text.contains("wildchat_coordinator_pool_backlog_jobs{pool=\"cpu\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("wildchat_coordinator_pool_backlog_jobs{pool=\"gpu\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("wildchat_coordinator_queue_jobs{kind=\"map\",pool=\"cpu\",run=\"a\",state=\"completed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("wildchat_coordinator_run_phase{phase=\"map\",run=\"b\",version=\"v-b\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("wildchat_coordinator_run_jobs{run=\"a\",state=\"total\"} 5"),
            "{text}"
        );
        assert!(text.contains("wildchat_coordinator_runs 2"), "{text}");
    }

    #[tokio::test]
    async fn runs_of_another_store_are_left_out() {
        let queue = MemoryQueue::new(QueueConfig::default());
        queue
            .announce_run(&announcement("a", "s3://one/", vec![run_queue("a", MAP_QUEUE)]))
            .await
            .unwrap();
        queue
            .announce_run(&announcement("b", "s3://two/", vec![run_queue("b", MAP_QUEUE)]))
            .await
            .unwrap();
        queue.enqueue(&run_queue("a", MAP_QUEUE), jobs(2)).await.unwrap();
        queue.enqueue(&run_queue("b", MAP_QUEUE), jobs(7)).await.unwrap();
        assert_eq!(snapshot(&queue, Some("s3://one")).await.unwrap().pool("cpu").backlog, 2);
        assert_eq!(snapshot(&queue, None).await.unwrap().pool("cpu").backlog, 9);
    }

    #[test]
    fn pools_answer_503_until_the_queue_is_read_and_unknown_pools_404() {
        let mut sampled = Sampled::default();
        assert_eq!(respond(&sampled, "/pools/cpu").status, 503);
        assert_eq!(respond(&sampled, "/healthz").status, 503);
        sampled.up = true;
        sampled.read_once = true;
        let reply = respond(&sampled, "/pools/gpu");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, r#"{"pool":"gpu","backlog":0,"runs":0}"#);
        assert_eq!(respond(&sampled, "/pools/tpu").status, 404);
        assert_eq!(respond(&sampled, "/nothing").status, 404);
        // A failed read after a good one: the pool endpoint refuses rather than report old numbers.
        sampled.up = false;
        assert_eq!(respond(&sampled, "/pools/cpu").status, 503);
        assert!(respond(&sampled, "/metrics")
            .body
            .contains("wildchat_coordinator_queue_up 0"));
    }
}
