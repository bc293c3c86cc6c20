//! The release manager's commands (DESIGN §9) over the `release` crate: list, show, verify,
//! promote, rollback, diff, amend and export. Both `coordinator release ...` and the lean
//! `release-manager` binary run them; this crate links neither ONNX Runtime, lingua nor the PII
//! detector (only the `credentials` scanner that `verify` samples turns with).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use release::channels::{list_channels, promote, rollback};
use release::manifest::{list_versions, read_manifest};
use release::ops::{ExportFormat, ExportOptions, VerifyOptions};
use storage::ObjectStore;

/// Program, version and the git commit it was built from (`unknown` outside a checkout), as
/// release manifests record it.
pub fn code_version() -> String {
    build_info::code_version()
}

/// `release ...` arguments: the store every command reads, and the command.
#[derive(Args)]
pub struct ReleaseArgs {
    /// The store holding `releases/` (a directory, `file:///path` or `s3://bucket/prefix`).
    /// There is no default: a release manager names the store they mean.
    #[arg(long, env = "WILDCHAT__STORE", global = true)]
    pub store: Option<String>,
    #[command(subcommand)]
    pub command: ReleaseCommand,
}

/// Opens the store named by `--store` / `WILDCHAT__STORE` and runs the command.
pub async fn run_release_args(args: ReleaseArgs) -> anyhow::Result<()> {
    let Some(uri) = args.store.as_deref().filter(|uri| !uri.trim().is_empty()) else {
        bail!("no store given: pass --store URI (a directory or s3://bucket/prefix) or set WILDCHAT__STORE");
    };
    let store = storage::open_store(uri).await.map_err(anyhow::Error::msg)?;
    if let ReleaseCommand::Serve(serve) = args.command {
        return run_serve(store, serve).await;
    }
    run_release_command(store.as_ref(), args.command).await
}

/// `release serve` arguments.
#[derive(Args)]
pub struct ServeArgs {
    pub version: String,
    /// Address to listen on; a non-loopback address needs an access token. Port 0 picks a free
    /// one (the address is printed once the server is ready).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// `nontoxic`, or `full` (toxic conversations included; needs an access token).
    #[arg(long, default_value = "nontoxic", value_parser = ["full", "nontoxic"])]
    pub variant: String,
    /// A file holding the access token (its first line). Needed to bind a non-loopback
    /// address or to serve `full`; browsers log in with it once (a cookie), scripts send
    /// `Authorization: Bearer TOKEN`.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Local directory for shard copies and search index files (default: the user's cache
    /// directory, `~/.cache/wildchat/explorer`).
    #[arg(long, env = "WILDCHAT_EXPLORER_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

/// The access token: `--token-file`, else WILDCHAT_EXPLORER_TOKEN, else none.
fn explorer_token(args: &ServeArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the token file {}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.is_empty() {
            bail!("the token file {} is empty", path.display());
        }
        return Ok(Some(token));
    }
    Ok(std::env::var("WILDCHAT_EXPLORER_TOKEN")
        .ok()
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty()))
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("wildchat").join("explorer")
}

async fn run_serve(store: std::sync::Arc<dyn ObjectStore>, args: ServeArgs) -> anyhow::Result<()> {
    let options = explorer::ServeOptions {
        token: explorer_token(&args)?,
        cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
        version: args.version,
        variant: args.variant,
        listen: args.listen,
    };
    explorer::serve(store, options).await
}

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Every version (with its parent, rows and creation time) and every channel.
    List,
    /// A version's manifest summary: provenance, variants, counters and statistics.
    Show {
        version: String,
        /// Print the whole manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every shard, check the schema and row counts, and scan a sample of turns for
    /// credentials that should have been redacted; exits non-zero when anything is wrong.
    Verify {
        version: String,
        /// Turns sampled for the PII scan (0 skips it).
        #[arg(long, default_value_t = 2000)]
        pii_sample: usize,
    },
    /// Point a channel at a version that verifies (compare-and-swap; the channel keeps its
    /// history). Fails with "channel moved" when someone else changed it meanwhile.
    Promote {
        version: String,
        #[arg(long)]
        channel: String,
        /// Who promotes (recorded in the channel's history).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Move a channel back to the version before its latest promotion.
    Rollback {
        #[arg(long)]
        channel: String,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Row counts, language and country deltas, added and removed conversation hashes.
    Diff {
        a: String,
        b: String,
        #[arg(long)]
        json: bool,
    },
    /// A new version without the conversations listed in FILE (conversation_hash or
    /// turn_identifier per line); shards without removed rows are carried over unchanged.
    Amend {
        version: String,
        #[arg(long)]
        remove: PathBuf,
        #[arg(long = "version")]
        new_version: String,
    },
    /// A read-only web page over a version: overview, browse with filters, full-text search,
    /// conversations, compare with another version and a takedown basket (DESIGN §9).
    Serve(ServeArgs),
    /// Conversations for fine-tuning as JSON lines (ShareGPT or OpenAI chat format).
    Export {
        version: String,
        #[arg(long, value_enum)]
        format: FormatArg,
        /// `full` or `nontoxic`.
        #[arg(long, default_value = "full")]
        variant: String,
        /// Keep only these conversation languages (e.g. English,French).
        #[arg(long, value_delimiter = ',')]
        language: Vec<String>,
        /// Keep only toxic (true) or non-toxic (false) conversations.
        #[arg(long)]
        toxic: Option<bool>,
        /// Keep only redacted (true) or unredacted (false) conversations.
        #[arg(long)]
        redacted: Option<bool>,
        #[arg(long)]
        min_turns: Option<i64>,
        /// Keep only these models.
        #[arg(long, value_delimiter = ',')]
        model: Vec<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Sharegpt,
    OpenaiJsonl,
}

/// What `verify`'s sample scan counts as a leak: credentials, which both policies replace in
/// every turn whatever its language. Names, phones and emails can rightly remain in a release
/// (strings in 10 or more conversations, turns in languages the reference did not analyse), so
/// they are not a verification failure.
fn pii_findings(text: &str) -> Vec<String> {
    credentials::scan(text)
        .iter()
        .map(|secret| format!("SECRET_{}", secret.kind.as_str()))
        .collect()
}

pub async fn run_release_command(store: &dyn ObjectStore, command: ReleaseCommand) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::List => {
            let versions = list_versions(store).await?;
            if versions.is_empty() {
                println!("no releases in {}", store.describe());
            }
            for version in versions {
                let manifest = read_manifest(store, &version).await?;
                let rows = |variant: &str| manifest.variants.get(variant).map_or(0, |v| v.rows);
                println!(
                    "{version:<28} full {:>10} | nontoxic {:>10} | created {} | parent {}",
                    rows("full"),
                    rows("nontoxic"),
                    manifest.created_at,
                    manifest.parent.as_deref().unwrap_or("-")
                );
            }
            for channel in list_channels(store).await? {
                println!(
                    "channel {:<20} -> {} (revision {}, updated {})",
                    channel.channel,
                    channel.version.as_deref().unwrap_or("-"),
                    channel.revision,
                    channel.updated_at
                );
            }
            Ok(())
        }
        ReleaseCommand::Show { version, json } => {
            let manifest = read_manifest(store, &version).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
                return Ok(());
            }
            println!("release {} ({})", manifest.version, manifest.format);
            println!("  created       {}", manifest.created_at);
            println!("  parent        {}", manifest.parent.as_deref().unwrap_or("-"));
            println!("  run           {}", manifest.run_id);
            println!("  code          {}", manifest.code_version);
            println!("  config        sha256 {}", manifest.config_sha256);
            println!(
                "  inputs        {} objects, sha256 {}",
                manifest.inputs.len(),
                manifest.inputs_sha256
            );
            for (name, variant) in &manifest.variants {
                println!(
                    "  {name:<13} {} rows in {} shards, {} bytes",
                    variant.rows,
                    variant.shards.len(),
                    variant.shards.iter().map(|shard| shard.bytes).sum::<u64>()
                );
            }
            if let Some(amendment) = &manifest.amendment {
                println!(
                    "  amended       {} list entries (sha256 {}), removed {:?}, rewritten shards {:?}",
                    amendment.removal_entries,
                    amendment.removal_list_sha256,
                    amendment.removed,
                    amendment.rewritten_shards
                );
            }
            println!("  counters      {}", manifest.counters);
            Ok(())
        }
        ReleaseCommand::Verify { version, pii_sample } => {
            let report = verify_version(store, &version, pii_sample).await?;
            print!("{report}");
            if !report.ok() {
                bail!("release {version} does not verify");
            }
            Ok(())
        }
        ReleaseCommand::Promote { version, channel, by } => {
            let report = verify_version(store, &version, 500).await?;
            if !report.ok() {
                print!("{report}");
                bail!("release {version} does not verify; channel {channel} left unchanged");
            }
            let moved = promote(store, &channel, &version, by.as_deref()).await?;
            println!(
                "channel {} -> {} (revision {})",
                moved.channel,
                moved.version.as_deref().unwrap_or("-"),
                moved.revision
            );
            Ok(())
        }
        ReleaseCommand::Rollback { channel, by } => {
            let moved = rollback(store, &channel, by.as_deref()).await?;
            println!(
                "channel {} -> {} (revision {})",
                moved.channel,
                moved.version.as_deref().unwrap_or("-"),
                moved.revision
            );
            Ok(())
        }
        ReleaseCommand::Diff { a, b, json } => {
            let report = release::ops::diff(store, &a, &b).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        ReleaseCommand::Amend {
            version,
            remove,
            new_version,
        } => {
            let list = std::fs::read(&remove).with_context(|| format!("reading {}", remove.display()))?;
            let options = release::ops::AmendOptions::now(code_version());
            let manifest = release::ops::amend(store, &version, &list, &new_version, &options).await?;
            for (variant, removed) in manifest.amendment.iter().flat_map(|amendment| &amendment.removed) {
                println!("{variant}: {removed} conversation(s) removed");
            }
            println!("{}", release::manifest::manifest_key(&new_version));
            Ok(())
        }
        ReleaseCommand::Export {
            version,
            format,
            variant,
            language,
            toxic,
            redacted,
            min_turns,
            model,
            output,
        } => {
            let options = ExportOptions {
                variant,
                format: match format {
                    FormatArg::Sharegpt => ExportFormat::ShareGpt,
                    FormatArg::OpenaiJsonl => ExportFormat::OpenAiJsonl,
                },
                languages: language,
                toxic,
                redacted,
                min_turns,
                models: model,
            };
            let mut out: Box<dyn Write + Send> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let report = release::ops::export(store, &version, options, &mut out).await?;
            out.flush()?;
            eprintln!(
                "exported {} conversation(s), {} filtered out",
                report.conversations, report.skipped
            );
            Ok(())
        }
        ReleaseCommand::Serve(_) => bail!("release serve needs a shared store handle: run it through run_release_args"),
    }
}

async fn verify_version(
    store: &dyn ObjectStore,
    version: &str,
    pii_sample: usize,
) -> anyhow::Result<release::ops::VerifyReport> {
    let scan: &(dyn Fn(&str) -> Vec<String> + Send + Sync) = &pii_findings;
    release::ops::verify(
        store,
        version,
        VerifyOptions {
            pii_sample,
            pii_scan: (pii_sample > 0).then_some(scan),
        },
    )
    .await
}
