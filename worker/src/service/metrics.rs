//! The worker's Prometheus metrics. Labels are job kinds, stages, queue names, run ids,
//! run-fingerprint component names and operations only: nothing derived from a row (no IP,
//! salt or device fingerprint) ever becomes a label or value.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use queue::{Lease, QueueError, QueueStats};

use crate::runner::{JobEnd, RunnerObserver};

/// Seconds; jobs range from a fraction of a second (a no-op rerun) to many minutes.
const DURATION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];

#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    jobs_done: IntCounterVec,
    jobs_failed: IntCounterVec,
    jobs_retried: IntCounterVec,
    jobs_duplicate: IntCounterVec,
    jobs_dead_lettered: IntCounterVec,
    jobs_unrecorded: IntCounterVec,
    leases_lost: IntCounterVec,
    rows: IntCounterVec,
    job_seconds: HistogramVec,
    queue_lag_seconds: HistogramVec,
    queue_errors: IntCounterVec,
    queue_waiting: IntGaugeVec,
    queue_leased: IntGaugeVec,
    queue_dead: IntGaugeVec,
    jobs_in_progress: IntGauge,
    resident_memory: IntGauge,
    run_mismatch: IntGaugeVec,
    run_mismatches: IntCounterVec,
    moderation_events: IntCounterVec,
    /// The moderation client whose counts `moderation_events` follows (read at each scrape).
    moderation: std::sync::OnceLock<Arc<moderation::ModerationClient>>,
}

fn counter(registry: &Registry, name: &str, help: &str, label: &str) -> Result<IntCounterVec, prometheus::Error> {
    let metric = IntCounterVec::new(Opts::new(name, help), &[label])?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(registry: &Registry, name: &str, help: &str) -> Result<HistogramVec, prometheus::Error> {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
        &["kind"],
    )?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGaugeVec, prometheus::Error> {
    let metric = IntGaugeVec::new(Opts::new(name, help), &["queue"])?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// The `event` labels of `moderation_events_total`.
const MODERATION_EVENTS: [&str; 4] = ["requests", "retries", "rate_limited", "texts"];

impl WorkerMetrics {
    pub fn new() -> Result<WorkerMetrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("wildchat_worker".to_string()), None)?;
        let jobs_in_progress = IntGauge::new("jobs_in_progress", "jobs this worker is running now")?;
        registry.register(Box::new(jobs_in_progress.clone()))?;
        let resident_memory = IntGauge::new(
            "resident_memory_bytes",
            "resident set size of this worker process (read at each scrape)",
        )?;
        registry.register(Box::new(resident_memory.clone()))?;
        let metrics = WorkerMetrics {
            jobs_done: counter(
                &registry,
                "jobs_done_total",
                "jobs whose completion this worker recorded",
                "kind",
            )?,
            jobs_failed: counter(&registry, "jobs_failed_total", "job attempts that failed here", "kind")?,
            jobs_retried: counter(
                &registry,
                "jobs_retried_total",
                "leases of a job that an earlier attempt did not finish",
                "kind",
            )?,
            jobs_duplicate: counter(
                &registry,
                "jobs_duplicate_total",
                "jobs finished here after another worker had recorded them",
                "kind",
            )?,
            jobs_dead_lettered: counter(
                &registry,
                "jobs_dead_lettered_total",
                "jobs that failed their last attempt here",
                "kind",
            )?,
            jobs_unrecorded: counter(
                &registry,
                "jobs_unrecorded_total",
                "jobs that ran but whose completion the queue could not record",
                "kind",
            )?,
            run_mismatch: {
                let metric = IntGaugeVec::new(
                    Opts::new(
                        "run_mismatch",
                        "1 for each fingerprint component (salt, geoip, toxicity_model, ...) in which this \
                         worker differs from an announced run whose jobs it therefore leaves alone",
                    ),
                    &["run", "component"],
                )?;
                registry.register(Box::new(metric.clone()))?;
                metric
            },
            run_mismatches: counter(
                &registry,
                "run_mismatches_total",
                "runs found with a fingerprint that differs from this worker's, by component",
                "component",
            )?,
            moderation_events: counter(
                &registry,
                "moderation_events_total",
                "this worker's moderation endpoint traffic: requests sent, retries, 429 answers \
                 (rate_limited) and texts answered",
                "event",
            )?,
            moderation: std::sync::OnceLock::new(),
            leases_lost: counter(
                &registry,
                "leases_lost_total",
                "leases that expired while their job ran",
                "kind",
            )?,
            rows: counter(
                &registry,
                "rows_total",
                "rows processed, by stage (map: raw lines; partition: conversation turns)",
                "stage",
            )?,
            job_seconds: histogram(
                &registry,
                "job_duration_seconds",
                "time from lease to completion, by job kind",
            )?,
            queue_lag_seconds: histogram(
                &registry,
                "queue_lag_seconds",
                "time a job waited in the queue before this worker leased it",
            )?,
            queue_errors: counter(
                &registry,
                "queue_errors_total",
                "queue calls that failed and were retried or backed off",
                "operation",
            )?,
            queue_waiting: gauge(&registry, "queue_waiting_jobs", "jobs waiting in a queue (sampled)")?,
            queue_leased: gauge(&registry, "queue_leased_jobs", "jobs leased from a queue (sampled)")?,
            queue_dead: gauge(&registry, "queue_dead_jobs", "jobs dead-lettered in a queue (sampled)")?,
            jobs_in_progress,
            resident_memory,
            registry,
        };
        // Every job kind starts at 0, so rate() and increase() see a worker's first event (a
        // series that appears with value 1 has no earlier sample to differ from).
        for kind in ["map", "partition", "finalise", "invalid"] {
            for counter in [
                &metrics.jobs_done,
                &metrics.jobs_failed,
                &metrics.jobs_retried,
                &metrics.jobs_duplicate,
                &metrics.jobs_dead_lettered,
                &metrics.jobs_unrecorded,
                &metrics.leases_lost,
            ] {
                counter.with_label_values(&[kind]).inc_by(0);
            }
        }
        for stage in ["map", "partition", "finalise"] {
            metrics.rows.with_label_values(&[stage]).inc_by(0);
        }
        Ok(metrics)
    }

    /// Follows `client`'s request, retry, 429 and text counts in `moderation_events_total`.
    pub fn observe_moderation(&self, client: Arc<moderation::ModerationClient>) {
        if self.moderation.set(client).is_ok() {
            for event in MODERATION_EVENTS {
                self.moderation_events.with_label_values(&[event]).inc_by(0);
            }
        }
    }

    /// The text exposition format Prometheus scrapes.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        if let Some(bytes) = resident_bytes() {
            self.resident_memory.set(bytes as i64);
        }
        if let Some(client) = self.moderation.get() {
            let stats = client.stats();
            let values = [stats.requests, stats.retries, stats.rate_limited, stats.texts];
            for (event, value) in MODERATION_EVENTS.iter().zip(values) {
                let counter = self.moderation_events.with_label_values(&[event]);
                counter.inc_by(value.saturating_sub(counter.get()));
            }
        }
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }

    /// Records a sample of a queue's depth; queues no longer served are dropped.
    pub fn set_queue_depths(&self, samples: &[(String, QueueStats)]) {
        self.queue_waiting.reset();
        self.queue_leased.reset();
        self.queue_dead.reset();
        for (queue, stats) in samples {
            self.queue_waiting
                .with_label_values(&[queue.as_str()])
                .set(stats.waiting as i64);
            self.queue_leased
                .with_label_values(&[queue.as_str()])
                .set(stats.leased as i64);
            self.queue_dead
                .with_label_values(&[queue.as_str()])
                .set(stats.dead as i64);
        }
    }
}

/// This process's resident set (`VmRSS` of /proc/self/status); None where there is no procfs.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// How long an entry waited, when the lease token is a Redis stream id (`<ms>-<seq>`).
fn queue_lag(lease: &Lease) -> Option<Duration> {
    let (millis, _) = lease.token.split_once('-')?;
    let enqueued_ms: u64 = millis.parse().ok()?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(Duration::from_millis(now_ms.saturating_sub(enqueued_ms)))
}

impl RunnerObserver for WorkerMetrics {
    fn job_started(&self, kind: &'static str, lease: &Lease) {
        self.jobs_in_progress.inc();
        if lease.attempt > 1 {
            self.jobs_retried.with_label_values(&[kind]).inc();
        }
        if let Some(lag) = queue_lag(lease) {
            self.queue_lag_seconds
                .with_label_values(&[kind])
                .observe(lag.as_secs_f64());
        }
    }

    fn job_finished(&self, kind: &'static str, end: JobEnd, elapsed: Duration, rows: u64) {
        self.jobs_in_progress.dec();
        self.job_seconds
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
        if rows > 0 {
            self.rows.with_label_values(&[kind]).inc_by(rows);
        }
        let counter = match end {
            JobEnd::Completed => &self.jobs_done,
            JobEnd::Duplicate => &self.jobs_duplicate,
            JobEnd::Failed => &self.jobs_failed,
            JobEnd::DeadLettered => {
                self.jobs_failed.with_label_values(&[kind]).inc();
                &self.jobs_dead_lettered
            }
            JobEnd::Unrecorded => &self.jobs_unrecorded,
        };
        counter.with_label_values(&[kind]).inc();
    }

    fn queue_error(&self, operation: &'static str, _error: &QueueError) {
        self.queue_errors.with_label_values(&[operation]).inc();
    }

    fn lease_lost(&self, kind: &'static str) {
        self.leases_lost.with_label_values(&[kind]).inc();
    }

    fn run_mismatch(&self, run: &str, components: &[&'static str]) {
        for component in shared::fingerprint::COMPONENTS {
            let differs = components.contains(&component);
            if differs {
                self.run_mismatch.with_label_values(&[run, component]).set(1);
                self.run_mismatches.with_label_values(&[component]).inc();
            } else {
                // Absent rather than 0: a run this worker matches adds no series.
                let _ = self.run_mismatch.remove_label_values(&[run, component]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::Job;

    #[test]
    fn the_exposition_names_every_metric_a_dashboard_needs() {
        let metrics = WorkerMetrics::new().unwrap();
        let lease = Lease {
            queue: "r/map".into(),
            job: Job {
                id: "o1".into(),
                payload: serde_json::Value::Null,
            },
            attempt: 2,
            token: "1-0".into(),
        };
        metrics.job_started("map", &lease);
        metrics.job_finished("map", JobEnd::Completed, Duration::from_millis(300), 1200);
        metrics.set_queue_depths(&[(
            "r/map".to_string(),
            QueueStats {
                waiting: 7,
                dead: 2,
                ..QueueStats::default()
            },
        )]);
        metrics.run_mismatch("r", &["salt", "geoip"]);
        metrics.run_mismatch("r2", &["salt"]);
        metrics.run_mismatch("r2", &[]);
        let text = metrics.render().unwrap();
        assert!(
            !text.contains("run=\"r2\""),
            "a run matched again leaves no series:\n{text}"
        );
        for expected in [
            "wildchat_worker_run_mismatch{component=\"salt\",run=\"r\"} 1",
            "wildchat_worker_run_mismatch{component=\"geoip\",run=\"r\"} 1",
            "wildchat_worker_run_mismatches_total{component=\"salt\"} 2",
            "wildchat_worker_jobs_done_total{kind=\"map\"} 1",
            "wildchat_worker_jobs_retried_total{kind=\"map\"} 1",
            "wildchat_worker_rows_total{stage=\"map\"} 1200",
            "wildchat_worker_job_duration_seconds_bucket{kind=\"map\",le=\"0.5\"} 1",
            "wildchat_worker_queue_lag_seconds_count{kind=\"map\"} 1",
            "wildchat_worker_queue_waiting_jobs{queue=\"r/map\"} 7",
            "wildchat_worker_queue_dead_jobs{queue=\"r/map\"} 2",
            "wildchat_worker_jobs_in_progress 0",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
        // The resident set is read at each scrape: a test process holds at least a MiB.
        let resident = text
            .lines()
            .find_map(|line| line.strip_prefix("wildchat_worker_resident_memory_bytes "))
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no resident memory sample in:\n{text}"));
        assert!(resident > 1 << 20, "resident memory {resident} bytes");
    }

    #[test]
    fn moderation_traffic_is_counted_from_the_client_at_each_scrape() {
        use test_servers::moderation::{ModerationServer, ModerationServerOptions};
        let server = ModerationServer::start(ModerationServerOptions {
            rate_limit_every: 3,
            retry_after_ms: Some(10),
            ..ModerationServerOptions::default()
        })
        .unwrap();
        let key = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key.path(), "sk-test-moderation").unwrap();
        let config = moderation::ModerationConfig {
            base_url: server.base_url(),
            model: "omni-moderation-latest".to_string(),
            api_key_env: "UNUSED".to_string(),
            api_key_file: Some(key.path().to_path_buf()),
            batch_size: 2,
            concurrency: 1,
            requests_per_minute: 60_000,
            max_attempts: 4,
            timeout: Duration::from_secs(5),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Arc::new(
            runtime
                .block_on(async { moderation::ModerationClient::new(config) })
                .unwrap(),
        );
        let metrics = WorkerMetrics::new().unwrap();
        metrics.observe_moderation(Arc::clone(&client));
        assert!(metrics
            .render()
            .unwrap()
            .contains("wildchat_worker_moderation_events_total{event=\"requests\"} 0"));
        runtime.block_on(client.moderate(&["a", "b", "c"])).unwrap();
        let text = metrics.render().unwrap();
        // Two batches; the first request (of every three) is rate-limited and retried: three
        // requests in all.
        for expected in [
            "wildchat_worker_moderation_events_total{event=\"requests\"} 3",
            "wildchat_worker_moderation_events_total{event=\"retries\"} 1",
            "wildchat_worker_moderation_events_total{event=\"rate_limited\"} 1",
            "wildchat_worker_moderation_events_total{event=\"texts\"} 3",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
        assert_eq!(
            metrics.render().unwrap().matches("event=\"requests\"} 3").count(),
            1,
            "a scrape adds nothing new"
        );
    }
}
