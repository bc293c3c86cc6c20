//! `cargo run --release -p fuzz -- --inputs 10000000`: fuzzes the raw-row reader, the
//! Python-literal parser and linking (see the library's documentation). Prints progress every
//! 100,000 inputs and a report; saves each finding under `--save` and exits 1 if there is one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "fuzz",
    about = "Fuzz the untrusted-input parsers (raw rows, Python literals, linking)"
)]
struct Args {
    /// Inputs to run.
    #[arg(long, default_value_t = 1_000_000)]
    inputs: u64,
    /// Seed of the mutation loop (the same seed makes the same inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The repository's testdata folder (the seed corpus is built from its conversations).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata"))]
    testdata: PathBuf,
    /// Where findings are written, one file per finding, named by target.
    #[arg(long, default_value = "target/fuzz-findings")]
    save: PathBuf,
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (rows, literals) = match fuzz::seed_corpus(&args.testdata) {
        Ok(corpus) => corpus,
        Err(error) => {
            eprintln!(
                "error: cannot build the seed corpus from {}: {error:#}",
                args.testdata.display()
            );
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "fuzz: {} inputs, seed {}, {} row seeds, {} literal seeds",
        args.inputs,
        args.seed,
        rows.len(),
        literals.len()
    );
    let report = fuzz::run(&rows, &literals, args.inputs, args.seed, |report| {
        eprintln!(
            "fuzz: {} inputs, {:.0}/s, {} findings",
            report.inputs,
            report.inputs as f64 / report.elapsed.as_secs_f64().max(1e-9),
            report.findings.len()
        );
    });
    println!("inputs              {}", report.inputs);
    println!(
        "raw rows            {} ({} accepted, {} rejected with a reason)",
        report.raw_rows, report.rows_accepted, report.rows_rejected
    );
    println!(
        "python literals     {} ({} accepted)",
        report.python_literals, report.literals_accepted
    );
    println!(
        "link batches        {} ({} conversations)",
        report.link_batches, report.conversations_linked
    );
    println!("largest input       {} bytes", report.largest_input);
    println!(
        "elapsed             {:.1} s ({:.0} inputs/s)",
        report.elapsed.as_secs_f64(),
        report.inputs as f64 / report.elapsed.as_secs_f64().max(1e-9)
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS            {peak} MiB");
    }
    println!("findings            {}", report.findings.len());
    if report.findings.is_empty() {
        return ExitCode::SUCCESS;
    }
    if let Err(error) = std::fs::create_dir_all(&args.save) {
        eprintln!("error: cannot create {}: {error}", args.save.display());
    }
    for (number, finding) in report.findings.iter().enumerate() {
        let path = args.save.join(format!("{}-{number:04}.bin", finding.target.name()));
        println!("  {}: {} ({})", finding.target.name(), finding.message, path.display());
        if let Err(error) = std::fs::write(&path, &finding.input) {
            eprintln!("error: cannot save {}: {error}", path.display());
        }
    }
    ExitCode::FAILURE
}
