//! The coordinator command line (DESIGN §9): demo, generate, run, status and release.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes_free::put_blocking;
use clap::{Args, CommandFactory, Parser, Subcommand};
use coordinator::pipeline::{run_pipeline, RunOptions};
use coordinator::plan::PlanConfig;
use coordinator::summary::render_queue_status;
use coordinator::summary::{quarantine_samples, render_status, render_summary, thousands};
use generator::{generate, GenerateOptions};
use queue::open_queue;
use queue::{Queue, QueueConfig};
use shared::fingerprint::ResourceFingerprint;
use storage::open_store;
use storage::ObjectStore;
use worker::enrich::Enrichment;
use worker::resources::{load_enrichment, resource_fingerprint, EnrichmentSettings, SaltPolicy};

/// mimalloc returns the memory of finished jobs; glibc's per-thread arenas kept it, and a long
/// run's resident set grew with the run (README, scale run).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "coordinator",
    version,
    about = "Plans, runs and commits WildChat-style dataset releases"
)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `worker=debug`; RUST_LOG also works.
    #[arg(long, global = true, env = "WILDCHAT__LOG", default_value = "warn")]
    log: String,
    /// TOML settings file. Its keys are the flags' environment names without `WILDCHAT__`, in
    /// lower case (store, queue, workers, pii_policy, ...); the environment and the flags
    /// override it (defaults < file < WILDCHAT__* < flags).
    #[arg(long, global = true, env = "WILDCHAT__CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate synthetic logs, run the whole pipeline on the embedded default, print a summary.
    /// The last line printed is the path of the release directory.
    Demo(DemoArgs),
    /// Write synthetic WildChat-shaped raw logs under raw/ and the ground truth under truth/.
    Generate(GenerateArgs),
    /// Run the pipeline over raw/ and commit a release.
    Run(RunArgs),
    /// Show all runs, or one run's progress, from the store.
    Status(StatusArgs),
    /// List the runs in the store (`runs list`) or delete the private intermediates of
    /// committed runs and, with --older-than, of unfinished ones (`runs gc`).
    Runs(RunsArgs),
    /// Serve the fleet's endpoint for a shared queue: /metrics (every announced run's phase
    /// and jobs by state), /pools/cpu and /pools/gpu (the backlog each worker pool scales on,
    /// over all runs) and /healthz. Runs until SIGTERM or SIGINT.
    Fleet(FleetArgs),
    /// Release management: list, show, verify, promote, rollback, diff, amend, export.
    Release(release_cli::ReleaseArgs),
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value_t = 100_000)]
    conversations: u64,
    /// A local directory; its raw/ and truth/ are replaced.
    #[arg(long, default_value = "demo-store")]
    store: PathBuf,
    #[arg(long, default_value_t = 20240409)]
    seed: u64,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    enrich: EnrichArgs,
}

#[derive(Args, Clone)]
struct EnrichArgs {
    /// File holding the IP salt as hex. WILDCHAT__IP_SALT may hold the hex itself instead.
    /// Required for `run`; the demo generates a random salt when none is given.
    #[arg(long, env = "WILDCHAT__IP_SALT_FILE")]
    salt_file: Option<PathBuf>,
    /// GeoIP City database as PATH or PATH@YYYY-MM-DD (undated paths take the date in their
    /// file name); repeat for several dated databases. Default: every *.mmdb under
    /// $XDG_DATA_HOME/wildchat/geoip (~/.local/share/wildchat/geoip), where
    /// infra/dev/setup.sh installs GeoLite2-City.
    #[arg(long = "geoip", env = "WILDCHAT__GEOIP", value_delimiter = ',')]
    geoip: Vec<String>,
    /// Toxicity model config (TOML) for workers in this process; default: the embedded routed
    /// model (English turns to alt-profanity-check, others to the multilingual hashed model).
    /// See models/toxicity and docs.
    #[arg(long, env = "WILDCHAT__TOXICITY_CONFIG")]
    toxicity_config: Option<PathBuf>,
    /// Where toxicity inference runs: cpu, cuda or cuda:N (CUDA never falls back to CPU).
    #[arg(long, env = "WILDCHAT__TOXICITY_DEVICE", default_value = "cpu")]
    toxicity_device: toxicity::Device,
    /// Optional PII token-classification model config (TOML, see stages/pii/README.md) whose spans
    /// join the rule recognizers'; it runs on the toxicity device.
    #[arg(long, env = "WILDCHAT__PII_NER_CONFIG")]
    pii_ner_config: Option<PathBuf>,
    /// Moderation source config (TOML, see stages/moderation/README.md): kind = "openai" asks an
    /// OpenAI-compatible /v1/moderations endpoint about every turn; default: no moderation
    /// source (openai_moderation null). The API key comes from the variable or file it names.
    #[arg(long, env = "WILDCHAT__MODERATION_CONFIG")]
    moderation_config: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long)]
    conversations: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, env = "WILDCHAT__STORE")]
    store: String,
    /// Number of raw objects (default: one per ~50k rows, at least 3).
    #[arg(long)]
    objects: Option<usize>,
}

#[derive(Args, Clone)]
struct Tuning {
    /// Worker tasks in this process; default: one per core with the in-process queue, none
    /// with a shared queue (external `worker run` processes serve it).
    #[arg(long, env = "WILDCHAT__WORKERS")]
    workers: Option<usize>,
    /// Partitions (and release shards) of the linking phase; default: about one per 256 MiB
    /// of raw input, at least 8.
    #[arg(long, env = "WILDCHAT__PARTITIONS")]
    partitions: Option<u32>,
    /// Byte range per map job for uncompressed objects.
    #[arg(long, env = "WILDCHAT__MAP_BYTES", default_value_t = 64 << 20)]
    map_bytes: u64,
    /// Buffered output per map job before a chunk is written.
    #[arg(long, env = "WILDCHAT__FLUSH_BYTES", default_value_t = 64 << 20)]
    flush_bytes: u64,
    /// Longer input lines are quarantined as line_too_long.
    #[arg(long, env = "WILDCHAT__MAX_LINE_BYTES", default_value_t = 32 << 20)]
    max_line_bytes: u64,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, env = "WILDCHAT__PROGRESS_SECS", default_value_t = 10)]
    progress_secs: u64,
    /// PII redaction policy: `reference` (WildChat's release rules, DESIGN §6) or `strict`
    /// (every detected entity of --pii-types).
    #[arg(long, env = "WILDCHAT__PII_POLICY", default_value = "reference")]
    pii_policy: shared::jobs::PiiPolicyKind,
    /// Entity types the strict policy redacts (Presidio names, comma-separated); default all 27.
    #[arg(long, env = "WILDCHAT__PII_TYPES", value_delimiter = ',')]
    pii_types: Vec<String>,
    /// How the strict policy replaces an entity: replace, mask or hash (salted with a key
    /// derived from the IP salt).
    #[arg(long, env = "WILDCHAT__PII_OPERATOR", default_value = "replace")]
    pii_operator: shared::jobs::PiiOperator,
    /// An exclusion list as NAME=FILE (or FILE, named by its stem): one conversation_hash or
    /// turn_identifier per line; listed conversations are left out of every variant and counted
    /// as `excluded.NAME`. Repeat for several lists (benchmark reservations, takedowns).
    #[arg(long = "exclude", env = "WILDCHAT__EXCLUDE", value_delimiter = ',')]
    exclude: Vec<String>,
    /// The dataset card's license (a Hugging Face license id).
    #[arg(long, env = "WILDCHAT__LICENSE", default_value = "odc-by")]
    license: String,
    /// Where analyse jobs (which run the toxicity model) go: `cpu` or `gpu` (only `worker run`
    /// processes with the gpu capability serve them).
    #[arg(long, env = "WILDCHAT__ANALYSE_ON", default_value = "cpu", value_enum)]
    analyse_on: coordinator::plan::AnalyseOn,
    /// The dataset card's title.
    #[arg(long, env = "WILDCHAT__PRETTY_NAME", default_value = "WildChat-style conversations")]
    pretty_name: String,
    /// A lease not refreshed for this long is reclaimed (embedded workers; `worker run`
    /// processes take their own setting).
    #[arg(long, env = "WILDCHAT__LEASE_TIMEOUT_MS", default_value_t = 120_000)]
    lease_timeout_ms: u64,
    /// Attempts per job before it is dead-lettered (embedded workers).
    #[arg(long, env = "WILDCHAT__MAX_ATTEMPTS", default_value_t = 4)]
    max_attempts: u32,
    /// Keep the run's private intermediates (map fragments with raw IPs and fingerprints,
    /// unredacted partitions) after the commit; by default they are deleted then.
    /// `coordinator runs gc` removes them later.
    #[arg(long, env = "WILDCHAT__KEEP_INTERMEDIATES")]
    keep_intermediates: bool,
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, env = "WILDCHAT__STORE")]
    store: String,
    /// `memory` (alias `embedded`: in-process queue and workers) or
    /// `redis://[user:password@]host:port[/db]` (a URL with a password is better given as
    /// WILDCHAT__QUEUE: flags show in process listings).
    #[arg(long, env = "WILDCHAT__QUEUE", default_value = "memory")]
    queue: String,
    /// Release version to commit; it must not exist yet.
    #[arg(long)]
    version: String,
    /// Run id (default: the version). Rerunning with the same id resumes the run.
    #[arg(long)]
    run_id: Option<String>,
    /// Serve /metrics (the run's phase and jobs by state), /pools/<pool> and /healthz on
    /// HOST:PORT while the run lasts (`coordinator fleet` serves the same for a whole fleet).
    #[arg(long, env = "WILDCHAT__LISTEN")]
    listen: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    enrich: EnrichArgs,
}

#[derive(Args)]
struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Every run with a plan: version, committed or not, private intermediates left.
    List {
        #[arg(long, env = "WILDCHAT__STORE")]
        store: String,
    },
    /// Delete the private intermediates of committed runs (kept with --keep-intermediates)
    /// and, with --older-than, of unfinished runs planned longer ago (they can no longer be
    /// resumed, and their claim on the version is released).
    Gc {
        #[arg(long, env = "WILDCHAT__STORE")]
        store: String,
        /// Age (30d, 12h, 90m, 45s) past which an unfinished run counts as abandoned.
        #[arg(long, value_parser = coordinator::retention::parse_age)]
        older_than: Option<chrono::Duration>,
    },
}

#[derive(Args)]
struct FleetArgs {
    /// The shared queue: `redis://[user:password@]host:port[/db]` (better given as
    /// WILDCHAT__QUEUE: flags show in process listings).
    #[arg(long, env = "WILDCHAT__QUEUE")]
    queue: String,
    /// HOST:PORT to serve on.
    #[arg(long, env = "WILDCHAT__LISTEN", default_value = "127.0.0.1:9100")]
    listen: String,
    /// Count only the runs of this store (default: every announced run).
    #[arg(long, env = "WILDCHAT__STORE")]
    store: Option<String>,
    /// Seconds between reads of the queue.
    #[arg(long, env = "WILDCHAT__FLEET_INTERVAL_SECS", default_value_t = 5)]
    interval_secs: u64,
}

#[derive(Args)]
struct StatusArgs {
    run_id: Option<String>,
    #[arg(long, env = "WILDCHAT__STORE")]
    store: String,
    /// Also show the live state a shared queue holds (announced runs, queue depths, retries,
    /// dead letters).
    #[arg(long, env = "WILDCHAT__QUEUE")]
    queue: Option<String>,
}

mod bytes_free {
    //! Bridges the generator's synchronous sink to the async store.
    use std::sync::Arc;

    use storage::{ObjectStore, PutMode};

    pub fn put_blocking(
        runtime: &tokio::runtime::Handle,
        store: &Arc<dyn ObjectStore>,
        key: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<()> {
        runtime
            .block_on(store.put(key, body.into(), PutMode::Overwrite))
            .map(|_| ())
            .map_err(anyhow::Error::from)
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before any thread starts: the file layer sets environment defaults.
    if let Err(error) = coordinator::config_file::apply(&Cli::command(), &args) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse_from(args);
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(args) => demo(args).await,
        Command::Generate(args) => {
            let store = open_store(&args.store).await.map_err(anyhow::Error::msg)?;
            generate_into(store, args.conversations, args.seed, args.objects).await
        }
        Command::Run(args) => {
            let store = open_store(&args.store).await.map_err(anyhow::Error::msg)?;
            let in_process = is_in_process_queue(&args.queue);
            let queue = open_queue(&args.queue, queue_config(&args.tuning))
                .await
                .map_err(anyhow::Error::msg)?;
            let run_id = args.run_id.clone().unwrap_or_else(|| args.version.clone());
            let embedded_workers = match (args.tuning.workers, in_process) {
                (Some(workers), true) => workers.max(1),
                (None, true) => default_workers(),
                (Some(workers), false) => workers,
                (None, false) => 0,
            };
            // Only workers in this process need the language and toxicity models loaded; the
            // salt, the GeoIP databases and the models' files are read either way, for the run
            // fingerprint every worker is checked against.
            let settings = EnrichmentSettings::from_env(args.enrich.salt_file.clone(), args.enrich.geoip.clone())
                .with_toxicity(args.enrich.toxicity_config.clone(), args.enrich.toxicity_device)
                .with_pii_ner(args.enrich.pii_ner_config.clone())
                .with_moderation(args.enrich.moderation_config.clone());
            let (enrichment, geoip, fingerprint) =
                load_run_resources(&settings, SaltPolicy::Required, embedded_workers > 0)?;
            if !in_process {
                eprintln!(
                    "run {run_id}: queue {}, {embedded_workers} worker(s) in this process; start `worker run` processes against the same store and queue",
                    queue::redis_queue::redact_url(&args.queue)
                );
            }
            let (stop_endpoint, stopped) = tokio::sync::watch::channel(false);
            let endpoint = match &args.listen {
                Some(address) => {
                    let listener = bind(address).await?;
                    Some(tokio::spawn(coordinator::fleet::serve_fleet(
                        queue.clone(),
                        Some(store.describe()),
                        listener,
                        std::time::Duration::from_secs(2),
                        stopped,
                    )))
                }
                None => None,
            };
            let released = run_and_report(
                store,
                queue,
                &run_id,
                &args.version,
                &args.tuning,
                embedded_workers,
                enrichment,
                geoip,
                fingerprint,
            )
            .await;
            let _ = stop_endpoint.send(true);
            if let Some(endpoint) = endpoint {
                let _ = endpoint.await;
            }
            println!("{}", released?);
            Ok(())
        }
        Command::Runs(RunsArgs {
            command: RunsCommand::List { store },
        }) => {
            let store = open_store(&store).await.map_err(anyhow::Error::msg)?;
            let runs = coordinator::retention::list_runs(store.as_ref()).await?;
            print!("{}", coordinator::retention::render_runs(&runs));
            Ok(())
        }
        Command::Runs(RunsArgs {
            command: RunsCommand::Gc { store, older_than },
        }) => {
            let store = open_store(&store).await.map_err(anyhow::Error::msg)?;
            let collected = coordinator::retention::gc(store.as_ref(), older_than, chrono::Utc::now()).await?;
            if collected.is_empty() {
                println!("nothing to delete");
            }
            for run in collected {
                println!(
                    "run {}: deleted {} private objects ({}){}",
                    run.run_id,
                    run.removed.objects,
                    coordinator::summary::mebibytes(run.removed.bytes),
                    if run.claim_released {
                        "; its claim on the version is released"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Command::Fleet(args) => {
            if is_in_process_queue(&args.queue) {
                bail!(
                    "coordinator fleet reports on a shared queue that coordinators and workers use: give \
                     --queue redis://HOST:PORT (or WILDCHAT__QUEUE), not {:?}",
                    args.queue
                );
            }
            let queue = open_queue(&args.queue, QueueConfig::default())
                .await
                .map_err(anyhow::Error::msg)?;
            let listener = bind(&args.listen).await?;
            eprintln!(
                "fleet endpoint for queue {} on http://{}: /metrics, /pools/cpu, /pools/gpu, /healthz",
                queue::redis_queue::redact_url(&args.queue),
                listener
                    .local_addr()
                    .map_or(args.listen.clone(), |address| address.to_string())
            );
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let server = tokio::spawn(coordinator::fleet::serve_fleet(
                queue,
                args.store,
                listener,
                std::time::Duration::from_secs(args.interval_secs.max(1)),
                stopped,
            ));
            wait_for_stop_signal().await?;
            let _ = stop.send(true);
            let _ = server.await;
            Ok(())
        }
        Command::Release(args) => release_cli::run_release_args(args).await,
        Command::Status(args) => {
            let store = open_store(&args.store).await.map_err(anyhow::Error::msg)?;
            print!("{}", render_status(store.as_ref(), args.run_id.as_deref()).await?);
            if let Some(queue_uri) = args.queue.as_deref().filter(|uri| !is_in_process_queue(uri)) {
                let queue = open_queue(queue_uri, QueueConfig::default())
                    .await
                    .map_err(anyhow::Error::msg)?;
                print!(
                    "{}",
                    render_queue_status(
                        queue.as_ref(),
                        &queue::redis_queue::redact_url(queue_uri),
                        args.run_id.as_deref()
                    )
                    .await?
                );
            }
            Ok(())
        }
    }
}

async fn bind(address: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (HOST:PORT)"))
}

/// Returns on the first SIGTERM or SIGINT.
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

fn is_in_process_queue(uri: &str) -> bool {
    matches!(uri.trim(), "" | "memory" | "embedded")
}

fn queue_config(tuning: &Tuning) -> QueueConfig {
    QueueConfig {
        lease_timeout: std::time::Duration::from_millis(tuning.lease_timeout_ms.max(100)),
        max_attempts: tuning.max_attempts.max(1),
    }
}

async fn generate_into(
    store: Arc<dyn ObjectStore>,
    conversations: u64,
    seed: u64,
    objects: Option<usize>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || {
        let options = GenerateOptions {
            conversations,
            seed,
            objects,
        };
        let sink = |key: &str, body: Vec<u8>| put_blocking(&runtime, &store, key, body);
        let progress = |done: usize, total: usize| {
            eprintln!("generate: objects {done}/{total}");
        };
        generate(&options, &sink, &progress)
    })
    .await
    .context("generator task panicked")??;
    eprintln!(
        "generate: {} conversations requested, {} raw rows in {} objects, {:.1}s",
        thousands(conversations),
        thousands(summary.rows_written),
        summary.objects.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(2)
}

/// Runs the pipeline, prints the summary and returns the release path.
/// Loads the salt and the GeoIP databases (and, for workers in this process, the models) and
/// computes the run fingerprint from them.
fn load_run_resources(
    settings: &EnrichmentSettings,
    salt_policy: SaltPolicy,
    with_models: bool,
) -> anyhow::Result<(Enrichment, Vec<String>, ResourceFingerprint)> {
    let (enrichment, geoip) = load_enrichment(settings, salt_policy, with_models)?;
    let salt = enrichment
        .salt
        .as_ref()
        .context("the coordinator has no ip salt for the run fingerprint")?;
    let fingerprint = resource_fingerprint(settings, salt, enrichment.geo.as_ref())?;
    Ok((enrichment, geoip, fingerprint))
}

#[allow(clippy::too_many_arguments)]
async fn run_and_report(
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    run_id: &str,
    version: &str,
    tuning: &Tuning,
    embedded_workers: usize,
    enrichment: Enrichment,
    geoip_databases: Vec<String>,
    fingerprint: ResourceFingerprint,
) -> anyhow::Result<String> {
    if tuning.partitions == Some(0) {
        bail!("--partitions must be at least 1");
    }
    let lease_timeout = queue_config(tuning).lease_timeout;
    let pii = shared::jobs::PiiPolicyConfig {
        policy: tuning.pii_policy,
        types: tuning.pii_types.clone(),
        operator: tuning.pii_operator,
    };
    // A bad policy fails here, before any job runs, not in every worker.
    worker::redaction::limits_policy(&pii)?;
    let exclusions = store_exclusion_lists(store.as_ref(), run_id, &tuning.exclude).await?;
    let options = RunOptions {
        run_id: run_id.to_string(),
        version: version.to_string(),
        config: PlanConfig {
            partitions: tuning.partitions.unwrap_or(0),
            map_bytes: tuning.map_bytes,
            flush_bytes: tuning.flush_bytes,
            max_line_bytes: tuning.max_line_bytes,
            geoip_databases,
            pii,
            exclusions,
            license: tuning.license.clone(),
            pretty_name: tuning.pretty_name.clone(),
            analyse_on: tuning.analyse_on,
            ..PlanConfig::default()
        },
        embedded_workers,
        progress: !tuning.quiet,
        enrichment: Arc::new(enrichment),
        poll_interval: std::time::Duration::from_millis(if std::io::stderr().is_terminal() { 200 } else { 500 }),
        progress_interval: std::time::Duration::from_secs(tuning.progress_secs.max(1)),
        embedded_heartbeat: (lease_timeout / 4).max(std::time::Duration::from_millis(25)),
        keep_intermediates: tuning.keep_intermediates,
        fingerprint: Some(fingerprint),
    };
    let report = run_pipeline(store.clone(), queue, &options).await?;
    let samples = quarantine_samples(store.as_ref(), &report.map_outcomes, 5).await?;
    print!("{}", render_summary(&report, &samples));
    let release_dir = format!("{}/releases/{}", store.describe().trim_end_matches('/'), version);
    Ok(release_dir)
}

/// Reads each `NAME=FILE` exclusion list, checks it, and copies it into the run's keys.
async fn store_exclusion_lists(
    store: &dyn ObjectStore,
    run_id: &str,
    specs: &[String],
) -> anyhow::Result<Vec<shared::jobs::ExclusionRef>> {
    let layout = shared::jobs::RunLayout::new(run_id);
    let mut lists = Vec::new();
    for spec in specs.iter().filter(|spec| !spec.trim().is_empty()) {
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) => (name.trim().to_string(), PathBuf::from(path.trim())),
            None => {
                let path = PathBuf::from(spec.trim());
                let stem = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .unwrap_or("excluded")
                    .to_string();
                (stem, path)
            }
        };
        shared::jobs::validate_name("exclusion list name", &name).map_err(anyhow::Error::msg)?;
        if lists.iter().any(|list: &shared::jobs::ExclusionRef| list.name == name) {
            bail!("two exclusion lists are named {name}: give them distinct names with NAME=FILE");
        }
        let text = std::fs::read(&path).with_context(|| format!("reading the exclusion list {}", path.display()))?;
        release::exclusions::ExclusionList::parse(&path.display().to_string(), &text)?;
        let key = layout.exclusion_list(&name);
        store
            .put(&key, text.into(), storage::PutMode::Overwrite)
            .await
            .with_context(|| format!("copying the exclusion list {} to {key}", path.display()))?;
        lists.push(shared::jobs::ExclusionRef { name, key });
    }
    Ok(lists)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(path))
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let root = absolute(&args.store)?;
    // The demo owns its store: stale inputs from an earlier demo would change the result.
    for owned in ["raw", "truth"] {
        let directory = root.join(owned);
        if directory.exists() {
            std::fs::remove_dir_all(&directory).with_context(|| format!("clearing {}", directory.display()))?;
        }
    }
    let store = open_store(&root.display().to_string())
        .await
        .map_err(anyhow::Error::msg)?;
    eprintln!(
        "demo: generating {} conversations into {}",
        thousands(args.conversations),
        root.display()
    );
    generate_into(store.clone(), args.conversations, args.seed, None).await?;
    let version = format!("demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let settings = EnrichmentSettings::from_env(args.enrich.salt_file.clone(), args.enrich.geoip.clone())
        .with_toxicity(args.enrich.toxicity_config.clone(), args.enrich.toxicity_device)
        .with_pii_ner(args.enrich.pii_ner_config.clone())
        .with_moderation(args.enrich.moderation_config.clone());
    let (enrichment, geoip, fingerprint) = load_run_resources(&settings, SaltPolicy::RandomIfMissing, true)?;
    let queue = open_queue("memory", queue_config(&args.tuning))
        .await
        .map_err(anyhow::Error::msg)?;
    let workers = args.tuning.workers.unwrap_or_else(default_workers).max(1);
    let store_for_report = store.clone();
    let release_path = run_and_report(
        store,
        queue,
        &version,
        &version,
        &args.tuning,
        workers,
        enrichment,
        geoip,
        fingerprint,
    )
    .await?;
    let (flagged, planted, flagged_all, turns) =
        coordinator::summary::planted_toxic_recall(store_for_report.as_ref(), &version).await?;
    eprintln!(
        "demo: {} of {} turns ({:.2} %) are flagged toxic",
        thousands(flagged_all),
        thousands(turns),
        100.0 * flagged_all as f64 / turns.max(1) as f64
    );
    eprintln!(
        "demo: {} of {} planted toxic turns are flagged toxic ({:.1} %)",
        thousands(flagged),
        thousands(planted),
        100.0 * flagged as f64 / planted.max(1) as f64
    );
    for (entity, real, removed, placeholders, kept) in
        coordinator::summary::planted_pii_outcome(store_for_report.as_ref(), &version).await?
    {
        let placeholder_note = if placeholders > 0 {
            format!(
                "; {} of {} placeholder values kept",
                thousands(kept),
                thousands(placeholders)
            )
        } else {
            String::new()
        };
        eprintln!(
            "demo: planted {entity}: {} of {} real values redacted ({:.1} %){placeholder_note}",
            thousands(removed),
            thousands(real),
            100.0 * removed as f64 / real.max(1) as f64
        );
    }
    println!("{release_path}");
    Ok(())
}
