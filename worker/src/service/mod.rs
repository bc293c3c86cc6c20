//! `worker run`: the distributed worker process. It opens the store and queue its settings
//! name, loads its own enrichment resources, finds runs through the announcements coordinators
//! keep in the queue backend (or serves the one run it is pinned to), runs job loops until
//! SIGTERM/SIGINT, and serves `/healthz` and `/metrics` when asked to listen.

pub mod http;
pub mod metrics;
pub mod settings;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use queue::{Queue, QueueConfig};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::resources::{load_enrichment, resource_fingerprint, EnrichmentSettings, SaltPolicy};
use crate::run_check::RunCheck;
use crate::runner::{run_worker_loop, QueueSource, RunnerObserver, RunnerOptions, RunnerStats};
use metrics::WorkerMetrics;
use settings::WorkerSettings;

/// Installs the process-wide log subscriber: JSON lines or text on stderr. `RUST_LOG` wins
/// over the configured filter.
pub fn init_logging(settings: &WorkerSettings) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if settings.log_format == "json" {
        builder.json().with_current_span(false).init();
    } else {
        builder.with_target(false).init();
    }
}

fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".to_string());
    format!("{host}-{}", std::process::id())
}

/// Runs the worker until a signal stops it; returns once the current jobs are finished.
pub async fn run_service(settings: WorkerSettings) -> anyhow::Result<()> {
    let store = storage::open_store(&settings.store).await.map_err(anyhow::Error::msg)?;
    let queue_config = QueueConfig {
        lease_timeout: settings.lease_timeout(),
        max_attempts: settings.max_attempts,
    };
    let queue = queue::open_queue(&settings.queue, queue_config)
        .await
        .map_err(anyhow::Error::msg)?;
    let enrichment_settings = EnrichmentSettings {
        salt_file: settings.ip_salt_file.clone(),
        salt_hex: settings.ip_salt.clone().filter(|hex| !hex.trim().is_empty()),
        geoip: settings.geoip.clone(),
        toxicity_config: settings.toxicity_config.clone(),
        pii_ner_config: settings.pii_ner_config.clone(),
        moderation_config: settings.moderation_config.clone(),
        toxicity_device: settings.toxicity_device.parse().map_err(anyhow::Error::msg)?,
    };
    let (enrichment, geoip, fingerprint) = tokio::task::spawn_blocking(move || {
        let (enrichment, geoip) = load_enrichment(&enrichment_settings, SaltPolicy::Required, true)?;
        let salt = enrichment.salt.as_ref().context("the worker has no ip salt")?;
        let fingerprint = resource_fingerprint(&enrichment_settings, salt, enrichment.geo.as_ref())?;
        anyhow::Ok((enrichment, geoip, fingerprint))
    })
    .await
    .context("loading the enrichment resources panicked")??;
    let metrics = Arc::new(WorkerMetrics::new().context("creating the metrics registry")?);
    if let Some(client) = &enrichment.moderation {
        metrics.observe_moderation(Arc::clone(client));
    }
    let name = if settings.name.is_empty() {
        default_worker_name()
    } else {
        settings.name.clone()
    };
    if let Some(unknown) = settings
        .capabilities
        .iter()
        .find(|capability| !matches!(capability.as_str(), "cpu" | "gpu"))
    {
        anyhow::bail!(
            "unknown worker capability {unknown:?}: use cpu, gpu or both (capabilities = [\"cpu\", \"gpu\"])"
        );
    }
    if settings.capabilities.is_empty() {
        anyhow::bail!("the worker has no capabilities and would serve no queue: set capabilities to cpu, gpu or both");
    }
    // A worker pinned to one run still finds it through its announcement: that is where the
    // run's fingerprint is, which every worker checks before taking a job.
    let source = QueueSource::Announced {
        refresh: Duration::from_millis(settings.discover_ms.max(50)),
        capabilities: settings.capabilities.clone(),
        run: Some(settings.run.clone()).filter(|run| !run.is_empty()),
    };
    let run_check = Arc::new(RunCheck::new(fingerprint, name.clone()));

    let (stop_sender, stop) = watch::channel(false);
    let state = Arc::new(http::EndpointState {
        metrics: metrics.clone(),
        serving: AtomicBool::new(true),
    });
    let mut endpoint = None;
    if !settings.listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} for /healthz and /metrics", settings.listen))?;
        let address = listener
            .local_addr()
            .map(|address| address.to_string())
            .unwrap_or_else(|_| settings.listen.clone());
        info!(address = %address, "serving /healthz and /metrics");
        endpoint = Some(tokio::spawn(http::serve(listener, state.clone(), stop.clone())));
    }
    let sampler = tokio::spawn(sample_queue_depths(
        queue.clone(),
        source.clone(),
        store.describe(),
        metrics.clone(),
        Duration::from_millis(settings.queue_stats_ms.max(100)),
        stop.clone(),
    ));
    tokio::spawn(stop_on_signal(stop_sender, state.clone()));

    info!(
        worker = %name,
        store = %store.describe(),
        queue = %queue::redis_queue::redact_url(&settings.queue),
        run = %if settings.run.is_empty() { "announced" } else { settings.run.as_str() },
        slots = settings.slots,
        lease_timeout_ms = settings.lease_timeout_ms,
        max_attempts = settings.max_attempts,
        geoip = ?geoip,
        salt_key_id = %run_check.fingerprint().salt_key_id,
        toxicity_model = %run_check.fingerprint().toxicity.model,
        code_version = %run_check.fingerprint().code_version,
        "worker started"
    );
    let enrichment = Arc::new(enrichment);
    let stats = Arc::new(RunnerStats::default());
    let mut loops = Vec::with_capacity(settings.slots);
    for slot in 0..settings.slots {
        let options = RunnerOptions {
            worker_name: if settings.slots == 1 {
                name.clone()
            } else {
                format!("{name}-{slot}")
            },
            queues: source.clone(),
            heartbeat_interval: settings.heartbeat_interval(),
            idle_poll: Duration::from_millis(settings.idle_poll_ms.max(10)),
            enrichment: enrichment.clone(),
            observer: Some(metrics.clone() as Arc<dyn RunnerObserver>),
            run_check: Some(run_check.clone()),
        };
        loops.push(tokio::spawn(run_worker_loop(
            store.clone(),
            queue.clone(),
            options,
            stop.clone(),
            stats.clone(),
        )));
    }
    let mut outcome = Ok(());
    for job_loop in loops {
        match job_loop.await {
            Ok(Ok(())) => {}
            Ok(Err(loop_error)) => {
                error!(error = %format!("{loop_error:#}"), "job loop stopped with an error");
                outcome = Err(loop_error);
            }
            Err(join_error) => {
                error!(error = %join_error, "job loop panicked");
                outcome = Err(anyhow::anyhow!("a job loop panicked: {join_error}"));
            }
        }
    }
    state.serving.store(false, Ordering::Relaxed);
    sampler.abort();
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    info!(
        worker = %name,
        jobs_done = stats.jobs_done.load(Ordering::Relaxed),
        jobs_failed = stats.jobs_failed.load(Ordering::Relaxed),
        "worker stopped"
    );
    outcome
}

/// First SIGTERM or SIGINT: stop taking work, finish the current jobs, exit 0. A second one:
/// exit at once; the leases of unfinished jobs expire and other workers take them.
async fn stop_on_signal(stop: watch::Sender<bool>, state: Arc<http::EndpointState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut terminate, mut interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(error), _) | (_, Err(error)) => {
            warn!(error = %error, "cannot install signal handlers; stop the worker with SIGKILL");
            return;
        }
    };
    for received in 0.. {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        if received == 0 {
            info!("stop requested: taking no more jobs, finishing the current ones");
            state.serving.store(false, Ordering::Relaxed);
            let _ = stop.send(true);
        } else {
            warn!("second stop request: exiting now; unfinished jobs go back to the queue when their leases expire");
            std::process::exit(1);
        }
    }
}

/// Samples the depth of the served queues for `/metrics` (what an autoscaler reads).
async fn sample_queue_depths(
    queue: Arc<dyn Queue>,
    source: QueueSource,
    store: String,
    metrics: Arc<WorkerMetrics>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let queues = match &source {
            QueueSource::Fixed(queues) => queues.clone(),
            QueueSource::Announced { run: only, .. } => match queue.active_runs().await {
                Ok(runs) => runs
                    .into_iter()
                    .filter(|run| run.serves_store(&store))
                    .filter(|run| only.as_ref().is_none_or(|only| *only == run.run_id))
                    .flat_map(|run| run.queues)
                    .collect(),
                Err(_) => Vec::new(),
            },
        };
        let mut samples = Vec::with_capacity(queues.len());
        for name in queues {
            if let Ok(stats) = queue.stats(&name).await {
                samples.push((name, stats));
            }
        }
        metrics.set_queue_depths(&samples);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
