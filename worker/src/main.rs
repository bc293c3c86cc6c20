//! The worker binary. `worker stage NAME` runs one stage over JSON lines on stdin (DESIGN §9).
//! The distributed job loop against Redis and S3 arrives with the distributed runtime; today
//! the embedded default runs the same loop inside the coordinator.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use worker::geo::{GeoDatabaseSpec, GeoResolver, IpSalt};

#[derive(Parser)]
#[command(name = "worker", version, about = "Runs pipeline jobs and single stages")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one stage on JSON lines from stdin, writing each line plus its annotations to stdout.
    Stage(StageArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum StageName {
    /// Input {"ip": "...", "date": "..."}; adds "country", "state", "hashed_ip".
    Geo,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stage(args) => match args.stage {
            StageName::Geo => run_geo_stage(&args),
        },
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

/// Returns the number of input lines that failed (each reported on stderr).
fn run_geo_stage(args: &StageArgs) -> anyhow::Result<u64> {
    let salt = match (&args.salt_file, std::env::var("WILDCHAT__IP_SALT")) {
        (Some(path), _) => IpSalt::from_file(path).context("loading the ip salt")?,
        (None, Ok(hex)) => IpSalt::from_hex(&hex).context("reading WILDCHAT__IP_SALT")?,
        (None, Err(_)) => bail!("the geo stage needs an ip salt: --salt-file FILE or WILDCHAT__IP_SALT"),
    };
    if args.geoip.is_empty() {
        bail!("the geo stage needs at least one --geoip DATABASE");
    }
    let specs = args
        .geoip
        .iter()
        .map(|spec| GeoDatabaseSpec::parse(spec))
        .collect::<Result<Vec<_>, _>>()
        .context("reading --geoip")?;
    let resolver = GeoResolver::open(&specs).context("opening the geoip databases")?;

    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0u64;
    for (index, line) in stdin.lines().enumerate() {
        let line_number = index + 1;
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match annotate_geo(&line, &salt, &resolver) {
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

fn annotate_geo(line: &str, salt: &IpSalt, resolver: &GeoResolver) -> Result<Value, String> {
    let mut value: Value = serde_json::from_str(line).map_err(|error| format!("invalid json: {error}"))?;
    let Value::Object(object) = &mut value else {
        return Err("line is not a json object".to_string());
    };
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
    Ok(value)
}
