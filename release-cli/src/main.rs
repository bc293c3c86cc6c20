//! `release-manager`: the release manager's commands as a binary of their own, without the
//! worker's models (no ONNX Runtime, lingua or PII detector); the same commands as
//! `coordinator release ...`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "release-manager",
    version,
    about = "Lists, inspects, verifies, promotes, rolls back, diffs, amends and exports dataset releases"
)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info`; RUST_LOG also works.
    #[arg(long, global = true, env = "WILDCHAT__LOG", default_value = "warn")]
    log: String,
    #[command(flatten)]
    release: release_cli::ReleaseArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(release_cli::run_release_args(cli.release)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
