//! The worker binary (DESIGN §9). `worker run` is the distributed job loop against a shared
//! queue and store; `worker stage NAME` runs one stage over JSON lines on stdin.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use geoip::{GeoDatabaseSpec, GeoResolver};
use ip_hash::IpSalt;
use language::LanguageDetector;
use serde_json::Value;
use worker::service::settings::{load_settings, read_settings, FlagOverrides};
use worker::service::{init_logging, run_service};

/// mimalloc returns the memory of finished jobs; glibc's per-thread arenas kept it, and a long
/// run's resident set grew with the run (README, scale run).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "worker",
    version,
    about = "Runs pipeline jobs and single stages",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `worker --store URI --queue URI ...` (DESIGN §9) is `worker run --store URI --queue URI ...`.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve pipeline jobs from a shared queue until SIGTERM/SIGINT (then finish the current
    /// job and exit 0). Settings: defaults < --config FILE < WILDCHAT__* environment < flags.
    Run(Box<RunArgs>),
    /// Run one stage on JSON lines from stdin, writing each line plus its annotations to stdout.
    Stage(StageArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum StageName {
    /// Input {"ip": "...", "date": "..."}; adds "country", "state", "hashed_ip".
    Geo,
    /// Input {"text": "..."}; adds "language" (the release label, e.g. "English" or "Nolang").
    Language,
    /// Input {"text": "..."}; adds "scores" (Detoxify's keys, null where the model has no such
    /// label) and "toxic".
    Toxicity,
    /// Input {"text": "...", "language": "English" (optional: detected when absent)}; adds
    /// "spans" [{"type", "start", "end", "score"}] (code points), "redacted_text", "redacted" and
    /// "replaced". Each line counts as one conversation for the policy's document frequencies,
    /// so the whole input is read before the first line is written.
    Pii,
}

#[derive(clap::Args)]
struct StageArgs {
    stage: StageName,
    /// GeoIP City database as PATH or PATH@YYYY-MM-DD; repeat for dated databases.
    #[arg(long = "geoip", env = "WILDCHAT__GEOIP", value_delimiter = ',')]
    geoip: Vec<String>,
    /// File holding the IP salt as hex (or WILDCHAT__IP_SALT with the hex itself).
    #[arg(long, env = "WILDCHAT__IP_SALT_FILE")]
    salt_file: Option<PathBuf>,
    /// The stage's config (toxicity: a model config TOML, default the embedded routed model;
    /// pii: a TOML with `policy = "reference"|"strict"`, `types = [...]`, `operator =
    /// "replace"|"mask"|"hash"`, default the reference policy; geo: a `worker run` settings
    /// file, whose `geoip` and `ip_salt_file` keys it reads). The language stage has none.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where inference runs (toxicity): cpu, cuda or cuda:N. CUDA never falls back to CPU.
    #[arg(long, env = "WILDCHAT__TOXICITY_DEVICE", default_value = "cpu")]
    device: toxicity::Device,
}

/// Flags of `worker run`; each overrides the same key of the config file and environment.
#[derive(clap::Args)]
struct RunArgs {
    /// TOML settings file (keys: see README, "Distributed run").
    #[arg(long)]
    config: Option<PathBuf>,
    /// Store URI: a directory, file:///path or s3://bucket/prefix [store].
    #[arg(long)]
    store: Option<String>,
    /// Queue URI: redis://[user:password@]host:port[/db] [queue]. Prefer WILDCHAT__QUEUE or the
    /// file for a URL with a password: flags show in process listings.
    #[arg(long)]
    queue: Option<String>,
    /// Serve only this run instead of every announced one [run].
    #[arg(long)]
    run: Option<String>,
    /// Consumer name in the queue (default: hostname-pid) [name].
    #[arg(long)]
    name: Option<String>,
    /// Jobs run at once [slots].
    #[arg(long)]
    slots: Option<usize>,
    /// Serve /healthz and /metrics on HOST:PORT [listen].
    #[arg(long)]
    listen: Option<String>,
    /// Log filter, e.g. info or worker=debug [log].
    #[arg(long)]
    log: Option<String>,
    /// json or text [log_format].
    #[arg(long)]
    log_format: Option<String>,
    /// File holding the IP salt as hex [ip_salt_file]; or WILDCHAT__IP_SALT with the hex.
    #[arg(long)]
    salt_file: Option<PathBuf>,
    /// GeoIP City database PATH or PATH@YYYY-MM-DD, repeatable [geoip].
    #[arg(long = "geoip")]
    geoip: Vec<String>,
    /// Toxicity model config (TOML); default: the embedded linear model [toxicity_config].
    #[arg(long)]
    toxicity_config: Option<PathBuf>,
    /// cpu, cuda or cuda:N; `--device` is the same flag (DESIGN §9) [toxicity_device].
    #[arg(long, visible_alias = "device")]
    toxicity_device: Option<String>,
    /// PII token-classification model config (TOML); default: rule recognizers only [pii_ner_config].
    #[arg(long)]
    pii_ner_config: Option<PathBuf>,
    /// Moderation source config (TOML, kind = "openai"); default: none [moderation_config].
    #[arg(long)]
    moderation_config: Option<PathBuf>,
    /// Queues this worker serves by what they need: cpu (map, analyse, finalise), gpu (analyse
    /// jobs of runs with --analyse-on gpu), or cpu,gpu [capabilities].
    #[arg(long)]
    capabilities: Option<String>,
    /// Lease timeout in milliseconds [lease_timeout_ms].
    #[arg(long)]
    lease_timeout_ms: Option<u64>,
    /// Heartbeat period in milliseconds; 0 = a quarter of the lease [heartbeat_ms].
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Attempts per job before it is dead-lettered [max_attempts].
    #[arg(long)]
    max_attempts: Option<u32>,
}

fn run_worker(args: RunArgs) -> anyhow::Result<()> {
    let mut flags = FlagOverrides {
        geoip: args.geoip.clone(),
        ..FlagOverrides::default()
    };
    flags.set("store", args.store);
    flags.set("queue", args.queue);
    flags.set("run", args.run);
    flags.set("name", args.name);
    flags.set("slots", args.slots);
    flags.set("listen", args.listen);
    flags.set("log", args.log);
    flags.set("log_format", args.log_format);
    flags.set("ip_salt_file", args.salt_file.map(|path| path.display().to_string()));
    flags.set(
        "toxicity_config",
        args.toxicity_config.map(|path| path.display().to_string()),
    );
    flags.set("toxicity_device", args.toxicity_device);
    flags.set("capabilities", args.capabilities);
    flags.set(
        "pii_ner_config",
        args.pii_ner_config.map(|path| path.display().to_string()),
    );
    flags.set(
        "moderation_config",
        args.moderation_config.map(|path| path.display().to_string()),
    );
    flags.set("lease_timeout_ms", args.lease_timeout_ms);
    flags.set("heartbeat_ms", args.heartbeat_ms);
    flags.set("max_attempts", args.max_attempts);
    let settings = load_settings(args.config.as_deref(), std::env::vars(), &flags)?;
    init_logging(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_service(settings))
}

/// The `worker stage` flags given on the command line (not from the environment) that the
/// stage has no use for: naming them is better than ignoring them.
fn inapplicable_stage_flags(stage: StageName, matches: &clap::ArgMatches) -> Vec<&'static str> {
    let applies = |flag: &str| match stage {
        StageName::Geo => matches!(flag, "geoip" | "salt_file" | "config"),
        StageName::Language => false,
        StageName::Toxicity => matches!(flag, "config" | "device"),
        StageName::Pii => matches!(flag, "config" | "salt_file"),
    };
    [
        ("geoip", "--geoip"),
        ("salt_file", "--salt-file"),
        ("config", "--config"),
        ("device", "--device"),
    ]
    .into_iter()
    .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine) && !applies(id))
    .map(|(_, flag)| flag)
    .collect()
}

fn run_stage(args: &StageArgs, matches: Option<&clap::ArgMatches>) -> anyhow::Result<u64> {
    let stage_name = args
        .stage
        .to_possible_value()
        .map_or_else(String::new, |value| value.get_name().to_string());
    let unused = matches
        .map(|matches| inapplicable_stage_flags(args.stage, matches))
        .unwrap_or_default();
    if !unused.is_empty() {
        bail!("{} does not apply to the {stage_name} stage", unused.join(", "));
    }
    match args.stage {
        StageName::Geo => run_geo_stage(args),
        StageName::Language => run_language_stage(),
        StageName::Toxicity => run_toxicity_stage(args),
        StageName::Pii => run_pii_stage(args),
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let result = match cli.command {
        None => run_worker(cli.run).map(|()| 0),
        Some(Command::Run(args)) => run_worker(*args).map(|()| 0),
        Some(Command::Stage(args)) => run_stage(&args, matches.subcommand_matches("stage")),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("worker: {failed} input line(s) could not be processed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `annotate` over each non-empty stdin line, writing the annotated object to stdout;
/// returns the number of lines that failed (each reported on stderr with its line number).
fn annotate_lines(
    mut annotate: impl FnMut(&mut serde_json::Map<String, Value>) -> Result<(), String>,
) -> anyhow::Result<u64> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0u64;
    for (index, line) in stdin.lines().enumerate() {
        let line_number = index + 1;
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let annotated = serde_json::from_str::<Value>(&line)
            .map_err(|error| format!("invalid json: {error}"))
            .and_then(|mut value| match &mut value {
                Value::Object(object) => annotate(object).map(|()| value),
                _ => Err("line is not a json object".to_string()),
            });
        match annotated {
            Ok(annotated) => {
                serde_json::to_writer(&mut stdout, &annotated)?;
                stdout.write_all(b"\n")?;
            }
            Err(reason) => {
                failed += 1;
                eprintln!("stdin line {line_number}: {reason}");
            }
        }
    }
    stdout.flush()?;
    Ok(failed)
}

fn run_language_stage() -> anyhow::Result<u64> {
    let detector = LanguageDetector::load().context("loading the language models")?;
    annotate_lines(|object| {
        let Some(Value::String(text)) = object.get("text") else {
            return Err("missing string field text".to_string());
        };
        let label = detector.label(text).to_string();
        object.insert("language".into(), Value::String(label));
        Ok(())
    })
}

fn run_toxicity_stage(args: &StageArgs) -> anyhow::Result<u64> {
    // --config is shared by the stages; the toxicity one may also come from the environment.
    let config = args
        .config
        .clone()
        .or_else(|| std::env::var_os("WILDCHAT__TOXICITY_CONFIG").map(PathBuf::from));
    let settings = worker::resources::EnrichmentSettings::default().with_toxicity(config, args.device);
    let model = worker::resources::load_toxicity(&settings)?;
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    toxicity::stage::annotate_lines(model.as_ref(), std::io::stdin().lock(), stdout)
}

/// The IP salt from --salt-file or WILDCHAT__IP_SALT, if one is given.
fn stage_salt(args: &StageArgs) -> anyhow::Result<Option<IpSalt>> {
    match (&args.salt_file, std::env::var("WILDCHAT__IP_SALT")) {
        (Some(path), _) => Ok(Some(IpSalt::from_file(path).context("loading the ip salt")?)),
        (None, Ok(hex)) => Ok(Some(IpSalt::from_hex(&hex).context("reading WILDCHAT__IP_SALT")?)),
        (None, Err(_)) => Ok(None),
    }
}

/// Returns the number of input lines that failed (each reported on stderr).
fn run_pii_stage(args: &StageArgs) -> anyhow::Result<u64> {
    use worker::redaction::{build_policy, doc_key, DocCounts};

    let config: shared::jobs::PiiPolicyConfig = match &args.config {
        None => shared::jobs::PiiPolicyConfig::default(),
        Some(path) => config::Config::builder()
            .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml))
            .build()
            .and_then(|loaded| loaded.try_deserialize())
            .with_context(|| format!("reading the pii policy config {}", path.display()))?,
    };
    let salt = stage_salt(args)?;
    let policy = build_policy(&config, salt.as_ref())?;
    let detector = pii::detector();

    struct Line {
        object: serde_json::Map<String, Value>,
        spans: Vec<pii::Span>,
    }
    let stdin = std::io::stdin().lock();
    let mut lines: Vec<Line> = Vec::new();
    let mut counts = DocCounts::default();
    let mut failed = 0u64;
    let mut language: Option<LanguageDetector> = None;
    for (index, line) in stdin.lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(object)) if matches!(object.get("text"), Some(Value::String(_))) => object,
            Ok(Value::Object(_)) => {
                failed += 1;
                eprintln!("stdin line {}: missing string field text", index + 1);
                continue;
            }
            Ok(_) => {
                failed += 1;
                eprintln!("stdin line {}: line is not a json object", index + 1);
                continue;
            }
            Err(error) => {
                failed += 1;
                eprintln!("stdin line {}: invalid json: {error}", index + 1);
                continue;
            }
        };
        let mut object = object;
        let text = object["text"].as_str().unwrap_or_default().to_string();
        let label = match object.get("language") {
            Some(Value::String(label)) => label.clone(),
            _ => {
                if language.is_none() {
                    language = Some(LanguageDetector::load().context("loading the language models")?);
                }
                let label = language.as_ref().map(|detector| detector.label(&text).to_string());
                let label = label.unwrap_or_default();
                object.insert("language".into(), Value::String(label.clone()));
                label
            }
        };
        let spans = if policy.analyses_language(&label) {
            detector.detect(&text)
        } else {
            Vec::new()
        };
        let keys = policy
            .counted_keys(&text, &spans)
            .into_iter()
            .map(|(entity, key)| doc_key(entity, &key))
            .collect();
        counts.add_conversation(&keys);
        lines.push(Line { object, spans });
    }
    let doc_freq = |entity: pii::EntityType, key: &str| counts.get(&doc_key(entity, key));
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for Line { mut object, spans } in lines {
        let text = object["text"].as_str().unwrap_or_default().to_string();
        let label = object["language"].as_str().unwrap_or_default().to_string();
        let secrets = credentials::scan(&text);
        let redaction = policy.redact(
            pii::policy::TurnText {
                text: &text,
                language: &label,
            },
            &spans,
            &secrets,
            &doc_freq,
        );
        let span_values: Vec<Value> = spans
            .iter()
            .map(|span| {
                serde_json::json!({
                    "type": span.entity.as_str(),
                    "start": span.start,
                    "end": span.end,
                    "score": span.score,
                })
            })
            .collect();
        let replaced: Vec<Value> = redaction
            .replaced
            .iter()
            .map(|item| {
                let label = match &item.label {
                    pii::policy::ReplacedLabel::Entity(entity) => entity.as_str().to_string(),
                    pii::policy::ReplacedLabel::Secret(kind) => format!("SECRET_{}", kind.as_str()),
                };
                serde_json::json!({"type": label, "start": item.start, "end": item.end})
            })
            .collect();
        object.insert("spans".into(), Value::Array(span_values));
        object.insert("redacted_text".into(), Value::String(redaction.text));
        object.insert("redacted".into(), Value::Bool(redaction.redacted));
        object.insert("replaced".into(), Value::Array(replaced));
        serde_json::to_writer(&mut stdout, &Value::Object(object))?;
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(failed)
}

/// Returns the number of input lines that failed (each reported on stderr). `--config` is a
/// `worker run` settings file read through the worker's own layers: its `geoip` and
/// `ip_salt_file` apply where the flags and the environment give none.
fn run_geo_stage(args: &StageArgs) -> anyhow::Result<u64> {
    let flags = FlagOverrides {
        geoip: args.geoip.clone(),
        ..FlagOverrides::default()
    };
    let settings = read_settings(args.config.as_deref(), std::env::vars(), &flags)?;
    let salt = match (stage_salt(args)?, &settings.ip_salt_file) {
        (Some(salt), _) => Some(salt),
        (None, Some(path)) => Some(IpSalt::from_file(path).context("loading the ip salt")?),
        (None, None) => None,
    };
    let Some(salt) = salt else {
        bail!("the geo stage needs an ip salt: --salt-file FILE, WILDCHAT__IP_SALT or ip_salt_file in --config");
    };
    if settings.geoip.is_empty() {
        bail!("the geo stage needs at least one --geoip DATABASE (or geoip in --config)");
    }
    let specs = settings
        .geoip
        .iter()
        .map(|spec| GeoDatabaseSpec::parse(spec))
        .collect::<Result<Vec<_>, _>>()
        .context("reading --geoip")?;
    let resolver = GeoResolver::open(&specs).context("opening the geoip databases")?;

    annotate_lines(|object| annotate_geo(object, &salt, &resolver))
}

fn annotate_geo(
    object: &mut serde_json::Map<String, Value>,
    salt: &IpSalt,
    resolver: &GeoResolver,
) -> Result<(), String> {
    let Some(Value::String(ip)) = object.get("ip") else {
        return Err("missing string field ip".to_string());
    };
    let ip = ip.trim().to_string();
    // Without a date the newest database applies.
    let timestamp_us = match object.get("date") {
        None | Some(Value::Null) => i64::MAX,
        Some(date) => shared::raw::parse_timestamp(date).map_err(|rejection| rejection.detail)?,
    };
    let answer = resolver.lookup(&ip, timestamp_us);
    object.insert("country".into(), answer.country.map_or(Value::Null, Value::String));
    object.insert("state".into(), answer.state.map_or(Value::Null, Value::String));
    object.insert("hashed_ip".into(), Value::String(salt.hash_ip(&ip)));
    Ok(())
}
