//! `toxicity`: the toxicity stage on its own, small enough to ship to a GPU machine.
//!
//!   toxicity score   [--config F] [--device D] < in.jsonl > out.jsonl   (as `worker stage toxicity`)
//!   toxicity bench   [--config F] [--device D] --texts in.jsonl [--threads N] [--repeat N]
//!   toxicity quality [--config F] [--device D] --csv labelled.csv [--language L] > report.md

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use toxicity::{is_toxic, quality, Device, ModelConfig, ScoreStats, TOXICITY};

#[derive(Parser)]
#[command(name = "toxicity", about = "Toxicity scores with ONNX Runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// Model config (TOML); without it, the embedded default (the routed model: English turns
    /// to the English linear model, others to the multilingual hashed model).
    #[arg(long)]
    config: Option<PathBuf>,
    /// cpu, cuda or cuda:N. CUDA that cannot be registered is an error, never a CPU fallback.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Sessions (linear model) or intra-op threads (transformer on CPU); 0 = all cores.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Scores {"text": ...} lines from stdin; adds "scores" and "toxic".
    Score(ModelArgs),
    /// Times the model on the texts of a JSON-lines file and prints one JSON summary.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// {"text": ...} per line.
        #[arg(long)]
        texts: PathBuf,
        /// Timed passes over the texts (after one untimed warm-up pass over the first 256).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// ROC-AUC and precision/recall at the release threshold on a labelled CSV, as Markdown.
    Quality {
        #[command(flatten)]
        model: ModelArgs,
        /// CSV with `comment_text` and a 0/1 `toxic` column (the Jigsaw format).
        #[arg(long)]
        csv: PathBuf,
        /// The language label of every row (as the release writes it, e.g. `English`); a routed
        /// model routes by it. Without it, rows have no label and go to the fallback model.
        #[arg(long)]
        language: Option<String>,
    },
}

fn load_model(args: &ModelArgs) -> anyhow::Result<(ModelConfig, std::sync::Arc<dyn toxicity::ToxicityModel>)> {
    let mut config = match &args.config {
        Some(path) => ModelConfig::from_file(path)?,
        None => ModelConfig::default(),
    };
    if let Some(threads) = args.threads {
        config.set_threads(threads);
    }
    let model = toxicity::load(&config, args.device)?;
    eprintln!("toxicity: {}", model.describe());
    Ok((config, model))
}

/// Returns the number of input lines that failed.
fn score(args: ModelArgs) -> anyhow::Result<u64> {
    let (_, model) = load_model(&args)?;
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    toxicity::stage::annotate_lines(model.as_ref(), std::io::stdin().lock(), stdout)
}

/// The `text` of each line, and its `language` label where the line has one (`worker stage
/// language` adds them; a routed model routes by them).
fn read_texts(path: &Path) -> anyhow::Result<(Vec<String>, Vec<Option<String>>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut texts = Vec::new();
    let mut languages = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .with_context(|| format!("{} line {} is not json", path.display(), index + 1))?;
        match value.get("text") {
            Some(Value::String(text)) => texts.push(text.clone()),
            _ => bail!("{} line {}: missing string field text", path.display(), index + 1),
        }
        languages.push(value.get("language").and_then(Value::as_str).map(str::to_string));
    }
    Ok((texts, languages))
}

fn bench(args: ModelArgs, texts_path: &Path, repeat: u32) -> anyhow::Result<()> {
    let load_started = Instant::now();
    let (config, model) = load_model(&args)?;
    let load_seconds = load_started.elapsed().as_secs_f64();
    let (texts, languages) = read_texts(texts_path)?;
    let views: Vec<&str> = texts.iter().map(String::as_str).collect();
    let labels: Vec<Option<&str>> = languages.iter().map(Option::as_deref).collect();
    let labelled = labels.iter().filter(|label| label.is_some()).count();
    let warm = views.len().min(256);
    model.score_labelled(&views[..warm], &labels[..warm], &mut ScoreStats::default())?;
    let mut stats = ScoreStats::default();
    let started = Instant::now();
    let mut toxic = 0u64;
    for _ in 0..repeat.max(1) {
        let scores = model.score_labelled(&views, &labels, &mut stats)?;
        toxic = views
            .iter()
            .zip(&scores)
            .zip(&labels)
            .filter(|((text, scores), label)| is_toxic(text, scores, false, model.threshold_for(**label)))
            .count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let bytes: usize = texts.iter().map(String::len).sum();
    let summary = json!({
        "model": model.id(),
        "kind": format!("{:?}", config.kind).to_lowercase(),
        "device": args.device.to_string(),
        "threads": config.thread_count(),
        "texts": texts.len(),
        "language_labelled": labelled,
        "mean_bytes": bytes as f64 / texts.len().max(1) as f64,
        "passes": repeat.max(1),
        "seconds": seconds,
        "load_seconds": load_seconds,
        "turns_per_s": stats.texts as f64 / seconds,
        "tokens_per_s": stats.tokens as f64 / seconds,
        "tokens": stats.tokens,
        "windows": stats.windows,
        "split_texts": stats.split_texts,
        "batches": stats.batches,
        "toxic_share": toxic as f64 / texts.len().max(1) as f64,
    });
    println!("{summary}");
    Ok(())
}

fn quality_report(args: ModelArgs, csv_path: &Path, language: Option<&str>) -> anyhow::Result<()> {
    let (config, model) = load_model(&args)?;
    let mut reader = csv::Reader::from_path(csv_path).with_context(|| format!("opening {}", csv_path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .with_context(|| format!("{} has no {name} column", csv_path.display()))
    };
    let (text_column, label_column) = (column("comment_text")?, column("toxic")?);
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} record {}", csv_path.display(), index + 1))?;
        texts.push(record[text_column].to_string());
        labels.push(match &record[label_column] {
            "0" => false,
            "1" => true,
            other => bail!(
                "{} record {}: toxic is {other:?}, not 0 or 1",
                csv_path.display(),
                index + 1
            ),
        });
    }
    let views: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut stats = ScoreStats::default();
    let languages = vec![language; views.len()];
    let scores: Vec<f32> = model
        .score_labelled(&views, &languages, &mut stats)?
        .iter()
        .map(|scores| scores[TOXICITY].unwrap_or(0.0))
        .collect();
    let auc = quality::roc_auc(&scores, &labels);
    let positives = labels.iter().filter(|&&label| label).count();
    let file_name = csv_path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let mut report = String::new();
    report.push_str("# Toxicity model quality\n\n");
    report.push_str(&format!(
        "Generated by `make quality-toxicity` (`toxicity quality --csv {file_name}`); do not edit by hand.\n\n"
    ));
    report.push_str(&format!("- Model: `{}` ({:?})\n", model.id(), config.kind));
    report.push_str(&format!(
        "- Language label of every row: {}\n",
        language.map_or_else(
            || "none (a routed model's fallback scores them)".to_string(),
            |language| format!("`{language}`")
        )
    ));
    report.push_str(&format!(
        "- Data: `{file_name}`: {} comments, {positives} labelled toxic ({:.1} %)\n",
        labels.len(),
        100.0 * positives as f64 / labels.len().max(1) as f64
    ));
    if config.kind == toxicity::ModelKind::Transformer {
        report.push_str(&format!(
            "- Texts longer than one model window: {} (scored by the {:?} over windows)\n",
            stats.split_texts, config.aggregate
        ));
    }
    if config.uses_embedded_model() {
        report.push_str(
            "- Caveat: the embedded models were trained on toxic-comment data that includes (or \
             probably includes) the Jigsaw comments this sample comes from, so these figures are an \
             optimistic bound for other text.\n",
        );
    }
    report.push('\n');
    report.push_str("| measure | value |\n| --- | --- |\n");
    report.push_str(&format!(
        "| ROC-AUC (`toxicity` vs `toxic`) | {} |\n",
        auc.map_or("n/a".to_string(), |auc| format!("{auc:.4}"))
    ));
    let release_threshold = model.threshold_for(language);
    for threshold in [release_threshold, 0.5] {
        let (precision, recall, f1) = quality::precision_recall(&scores, &labels, threshold);
        let flagged = scores.iter().filter(|&&score| score > threshold).count();
        let role = if threshold == release_threshold {
            " (the release threshold)"
        } else {
            ""
        };
        report.push_str(&format!(
            "| at `toxicity > {threshold}`{role}: flagged / precision / recall / F1 | {flagged} / {precision:.3} / {recall:.3} / {f1:.3} |\n"
        ));
    }
    print!("{report}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => score(args),
        Command::Bench { model, texts, repeat } => bench(model, &texts, repeat).map(|()| 0),
        Command::Quality { model, csv, language } => quality_report(model, &csv, language.as_deref()).map(|()| 0),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("toxicity: {failed} input line(s) could not be processed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
