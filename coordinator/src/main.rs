//! The coordinator command line (DESIGN §9): demo, generate, run and status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes_free::put_blocking;
use clap::{Args, Parser, Subcommand};
use coordinator::generate::{generate, GenerateOptions};
use coordinator::pipeline::{run_pipeline, RunOptions};
use coordinator::plan::PlanConfig;
use coordinator::summary::{quarantine_samples, render_status, render_summary, thousands};
use shared::queue::{MemoryQueue, Queue, QueueConfig};
use shared::store::ObjectStore;
use shared::uri::open_store;
use worker::enrich::Enrichment;
use worker::geo::{GeoDatabaseSpec, GeoResolver, IpSalt};

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
    /// Worker tasks (embedded queue); default: one per core.
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
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, env = "WILDCHAT__STORE")]
    store: String,
    /// `embedded` (in-process queue and workers).
    #[arg(long, env = "WILDCHAT__QUEUE", default_value = "embedded")]
    queue: String,
    /// Release version to commit; it must not exist yet.
    #[arg(long)]
    version: String,
    /// Run id (default: the version). Rerunning with the same id resumes the run.
    #[arg(long)]
    run_id: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    enrich: EnrichArgs,
}

#[derive(Args)]
struct StatusArgs {
    run_id: Option<String>,
    #[arg(long, env = "WILDCHAT__STORE")]
    store: String,
}

mod bytes_free {
    //! Bridges the generator's synchronous sink to the async store.
    use std::sync::Arc;

    use shared::store::{ObjectStore, PutMode};

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
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
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
            let store = open_store(&args.store).map_err(anyhow::Error::msg)?;
            generate_into(store, args.conversations, args.seed, args.objects).await
        }
        Command::Run(args) => {
            let store = open_store(&args.store).map_err(anyhow::Error::msg)?;
            if args.queue != "embedded" {
                bail!(
                    "queue {:?} is not supported by this build yet; use --queue embedded",
                    args.queue
                );
            }
            let run_id = args.run_id.clone().unwrap_or_else(|| args.version.clone());
            let (enrichment, geoip) = load_enrichment(&args.enrich, false)?;
            let release_path = run_and_report(store, &run_id, &args.version, &args.tuning, enrichment, geoip).await?;
            println!("{release_path}");
            Ok(())
        }
        Command::Status(args) => {
            let store = open_store(&args.store).map_err(anyhow::Error::msg)?;
            print!("{}", render_status(store.as_ref(), args.run_id.as_deref()).await?);
            Ok(())
        }
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

/// Runs the pipeline on the embedded default, prints the summary and returns the release path.
async fn run_and_report(
    store: Arc<dyn ObjectStore>,
    run_id: &str,
    version: &str,
    tuning: &Tuning,
    enrichment: Enrichment,
    geoip_databases: Vec<String>,
) -> anyhow::Result<String> {
    if tuning.partitions == Some(0) {
        bail!("--partitions must be at least 1");
    }
    let options = RunOptions {
        run_id: run_id.to_string(),
        version: version.to_string(),
        config: PlanConfig {
            partitions: tuning.partitions.unwrap_or(0),
            map_bytes: tuning.map_bytes,
            flush_bytes: tuning.flush_bytes,
            max_line_bytes: tuning.max_line_bytes,
            geoip_databases,
            ..PlanConfig::default()
        },
        embedded_workers: tuning.workers.unwrap_or_else(default_workers).max(1),
        progress: !tuning.quiet,
        enrichment: Arc::new(enrichment),
    };
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(QueueConfig::default()));
    let report = run_pipeline(store.clone(), queue, &options).await?;
    let samples = quarantine_samples(store.as_ref(), &report.map_outcomes, 5).await?;
    print!("{}", render_summary(&report, &samples));
    let release_dir = format!("{}/releases/{}", store.describe().trim_end_matches('/'), version);
    Ok(release_dir)
}

/// Where `infra/dev/setup.sh` installs the default GeoIP database.
fn default_geoip_directory() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data_home.join("wildchat/geoip"))
}

/// Loads the salt and the GeoIP databases, failing at start-up (not mid-run) when a
/// configured one is missing or corrupt. Returns the enrichment and a description of the
/// databases for the manifest.
fn load_enrichment(args: &EnrichArgs, demo: bool) -> anyhow::Result<(Enrichment, Vec<String>)> {
    let salt = match (&args.salt_file, std::env::var("WILDCHAT__IP_SALT")) {
        (Some(path), _) => IpSalt::from_file(path).context("loading the ip salt")?,
        (None, Ok(hex)) => IpSalt::from_hex(&hex).context("reading WILDCHAT__IP_SALT")?,
        (None, Err(_)) if demo => {
            eprintln!("demo: using a random ip salt for this run (hashed_ip values are not comparable across runs)");
            IpSalt::random()
        }
        (None, Err(_)) => bail!(
            "an ip salt is required: pass --salt-file FILE (hex) or set WILDCHAT__IP_SALT; it is never written anywhere"
        ),
    };
    let mut specs = args.geoip.clone();
    if specs.is_empty() {
        if let Some(directory) = default_geoip_directory() {
            if let Ok(entries) = std::fs::read_dir(&directory) {
                let mut found: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|extension| extension == "mmdb"))
                    .map(|path| path.display().to_string())
                    .collect();
                found.sort();
                specs = found;
            }
        }
    }
    let geo = if specs.is_empty() {
        eprintln!(
            "warning: no geoip database configured (--geoip, or run infra/dev/setup.sh): country and state will be null"
        );
        None
    } else {
        let parsed = specs
            .iter()
            .map(|spec| GeoDatabaseSpec::parse(spec))
            .collect::<Result<Vec<_>, _>>()
            .context("reading --geoip")?;
        Some(GeoResolver::open(&parsed).context("opening the geoip databases")?)
    };
    let described = geo
        .as_ref()
        .map(|resolver| {
            resolver
                .describe()
                .into_iter()
                .map(|(name, date)| format!("{name}@{date}"))
                .collect()
        })
        .unwrap_or_default();
    Ok((Enrichment { salt: Some(salt), geo }, described))
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
    let store = open_store(&root.display().to_string()).map_err(anyhow::Error::msg)?;
    eprintln!(
        "demo: generating {} conversations into {}",
        thousands(args.conversations),
        root.display()
    );
    generate_into(store.clone(), args.conversations, args.seed, None).await?;
    let version = format!("demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let (enrichment, geoip) = load_enrichment(&args.enrich, true)?;
    let release_path = run_and_report(store, &version, &version, &args.tuning, enrichment, geoip).await?;
    println!("{release_path}");
    Ok(())
}
