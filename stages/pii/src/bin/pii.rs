//! `pii quality`: score the detector on a presidio-research style JSON file.
//! `pii detect`: JSON lines `{"text": ...}` on stdin to the same objects plus `"spans"` on stdout; with
//! `--ner-config` (feature `ner`) a token-classification model's spans merge with the rule spans.
//! `pii bench`: single-thread `detect` throughput over a JSON-lines corpus, or over one large text built from it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pii::{Detector, EntityType, Span};
use serde::Deserialize;

#[derive(Parser)]
#[command(name = "pii", about = "rule-based PII detection")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Precision / recall / leak rate per entity type on a presidio-research JSON file, as Markdown.
    Quality {
        #[arg(long)]
        file: PathBuf,
        /// Only score these types (comma-separated Presidio names).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Seconds spent timing `detect` over the file (0 to skip).
        #[arg(long, default_value_t = 2.0)]
        bench_secs: f64,
    },
    /// Reads `{"text": ...}` JSON lines from stdin and writes them back with `"spans"`.
    Detect {
        /// Also run the token-classification (NER) model this TOML config describes and merge its spans
        /// with the rule spans (needs a binary built with `--features ner`; see stages/pii/README.md).
        #[arg(long)]
        ner_config: Option<PathBuf>,
        /// Where the NER model runs: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu", requires = "ner_config")]
        device: String,
    },
    /// Times the PII stage on one thread over `{"text": ...}` JSON lines (loading excluded): detection with every
    /// recognizer, the secrets scan and the reference policy's redaction (every string counted as rare).
    Bench {
        /// JSON lines with a string field `text`.
        #[arg(long)]
        texts: PathBuf,
        /// Stop loading once this many bytes of text are loaded (0: the whole file).
        #[arg(long, default_value_t = 0)]
        limit_bytes: usize,
        /// Instead, concatenate corpus texts (newline-separated) into one text of about this many MB and time
        /// `detect` on it.
        #[arg(long)]
        single_text_mb: Option<f64>,
        /// Rounds over the input; the reported time is the fastest round.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// Print exactly one JSON object line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Deserialize)]
struct Sample {
    full_text: String,
    #[serde(default)]
    spans: Vec<GoldSpan>,
}

#[derive(Deserialize)]
struct GoldSpan {
    entity_type: String,
    start_position: usize,
    end_position: usize,
}

/// Dataset type names that mean one of ours under another name.
fn map_type(name: &str) -> Option<EntityType> {
    match name {
        "DOMAIN_NAME" => Some(EntityType::URL),
        "IP" => Some(EntityType::IP_ADDRESS),
        "EMAIL" => Some(EntityType::EMAIL_ADDRESS),
        "PHONE" => Some(EntityType::PHONE_NUMBER),
        "SSN" => Some(EntityType::US_SSN),
        "IBAN" => Some(EntityType::IBAN_CODE),
        "DATE" | "TIME" => Some(EntityType::DATE_TIME),
        _ => name.parse().ok(),
    }
}

#[derive(Default)]
struct Counts {
    gold: usize,
    pred: usize,
    exact_tp: usize,
    pred_overlapping: usize,
    gold_overlapped: usize,
    gold_chars: usize,
    leaked_chars: usize,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn prf(tp_p: usize, pred: usize, tp_r: usize, gold: usize) -> (f64, f64, f64) {
    let p = if pred == 0 { 0.0 } else { tp_p as f64 / pred as f64 };
    let r = if gold == 0 { 0.0 } else { tp_r as f64 / gold as f64 };
    let f = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
    (p, r, f)
}

fn fmt3(x: f64, defined: bool) -> String {
    if defined {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

fn quality(file: &PathBuf, types: &[String], bench_secs: f64) -> Result<()> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let samples: Vec<Sample> = serde_json::from_str(&raw).context("parsing presidio-research JSON")?;
    let mut only: BTreeSet<EntityType> = BTreeSet::new();
    for t in types {
        match t.parse::<EntityType>() {
            Ok(e) => {
                only.insert(e);
            }
            Err(e) => bail!("{e}"),
        }
    }
    let wanted = |e: EntityType| e.is_implemented() && (only.is_empty() || only.contains(&e));
    let det = Detector::new();
    let mut counts: BTreeMap<EntityType, Counts> = BTreeMap::new();
    let mut not_scored: BTreeMap<String, usize> = BTreeMap::new();
    for s in &samples {
        let preds: Vec<Span> = det.detect(&s.full_text);
        let mut gold: Vec<(EntityType, usize, usize)> = Vec::new();
        for g in &s.spans {
            match map_type(&g.entity_type).filter(|&e| wanted(e)) {
                Some(e) => gold.push((e, g.start_position, g.end_position)),
                None => *not_scored.entry(g.entity_type.clone()).or_default() += 1,
            }
        }
        for &(e, gs, ge) in &gold {
            let c = counts.entry(e).or_default();
            c.gold += 1;
            let same: Vec<&Span> = preds.iter().filter(|p| p.entity == e).collect();
            if same.iter().any(|p| overlaps((p.start, p.end), (gs, ge))) {
                c.gold_overlapped += 1;
            }
            c.gold_chars += ge - gs;
            c.leaked_chars += (gs..ge)
                .filter(|&i| !same.iter().any(|p| p.start <= i && i < p.end))
                .count();
        }
        for p in preds.iter().filter(|p| wanted(p.entity)) {
            let c = counts.entry(p.entity).or_default();
            c.pred += 1;
            let same = gold.iter().filter(|g| g.0 == p.entity);
            if same.clone().any(|g| g.1 == p.start && g.2 == p.end) {
                c.exact_tp += 1;
            }
            if same.clone().any(|g| overlaps((p.start, p.end), (g.1, g.2))) {
                c.pred_overlapping += 1;
            }
        }
    }

    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let chars: usize = samples.iter().map(|s| s.full_text.chars().count()).sum();
    println!("# PII detection quality\n");
    println!(
        "Generated by `make quality-pii` (`pii quality --file testdata/pii/{name}`) \
         (see `stages/pii/src/bin/pii.rs`); do not edit by hand.\n"
    );
    println!("- Data: `{name}`: {} texts, {chars} characters", samples.len());
    println!("- Detector: rule-based recognizers in crate `pii` (regex set + checksums + `phonenumber`); every returned span counts, whatever its score (minimum {}).", pii::MIN_SCORE);
    println!(
        "- Rule approximations: PERSON, LOCATION, NRP and DATE_TIME are NER types in Presidio; here they are rules \
         (names after self-introduction, greeting, title and sign-off cues or a common given name with a surname; \
         gazetteers of places, nationalities, religions and parties; date and time shapes). Expect low recall for \
         names and places that appear without such cues."
    );
    println!("- Exact: same type and same code-point offsets. Overlap: same type and at least one shared character.");
    println!(
        "- Leak rate: characters of gold spans of a type not covered by any detected span of that type, \
         over all gold characters of that type (a strict policy that redacts every detected span).\n"
    );
    println!(
        "| type | gold | detected | exact P | exact R | exact F1 | overlap P | overlap R | overlap F1 | leak rate |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (e, c) in &counts {
        let (ep, er, ef) = prf(c.exact_tp, c.pred, c.exact_tp, c.gold);
        let (op, or, of) = prf(c.pred_overlapping, c.pred, c.gold_overlapped, c.gold);
        let leak = if c.gold_chars == 0 {
            "n/a".to_string()
        } else {
            format!("{:.1} %", 100.0 * c.leaked_chars as f64 / c.gold_chars as f64)
        };
        let (hp, hg) = (c.pred > 0, c.gold > 0);
        println!(
            "| {e} | {} | {} | {} | {} | {} | {} | {} | {} | {leak} |",
            c.gold,
            c.pred,
            fmt3(ep, hp),
            fmt3(er, hg),
            fmt3(ef, hp && hg),
            fmt3(op, hp),
            fmt3(or, hg),
            fmt3(of, hp && hg)
        );
    }
    let absent: Vec<&str> = EntityType::IMPLEMENTED
        .iter()
        .filter(|e| wanted(**e) && !counts.contains_key(e))
        .map(|e| e.as_str())
        .collect();
    if !absent.is_empty() {
        println!(
            "\nImplemented but neither in the gold data nor detected here: {}.",
            absent.join(", ")
        );
    }
    if !not_scored.is_empty() {
        let list: Vec<String> = not_scored.iter().map(|(k, v)| format!("{k} ({v})")).collect();
        println!(
            "\nNot scored (no recognizer in this crate, or filtered out): {}.",
            list.join(", ")
        );
    }
    let missing: Vec<&str> = EntityType::ALL
        .iter()
        .filter(|e| !e.is_implemented())
        .map(|e| e.as_str())
        .collect();
    if !missing.is_empty() {
        println!("\nTypes without a recognizer yet: {}.", missing.join(", "));
    }

    if bench_secs > 0.0 {
        let bytes: usize = samples.iter().map(|s| s.full_text.len()).sum();
        let budget = Duration::from_secs_f64(bench_secs);
        let t0 = Instant::now();
        let mut rounds = 0u64;
        let mut found = 0usize;
        while t0.elapsed() < budget || rounds < 3 {
            for s in &samples {
                found += det.detect(&s.full_text).len();
            }
            rounds += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let kbs = (bytes as f64 * rounds as f64) / 1024.0 / secs;
        let per_text = secs * 1e6 / (rounds as f64 * samples.len() as f64);
        println!("\n## Throughput\n");
        println!(
            "`detect` over all {} texts ({bytes} bytes), {rounds} rounds on one thread: **{kbs:.0} KB/s** \
             ({per_text:.1} µs per text; {} spans per round). Release build, {}.",
            samples.len(),
            found / rounds as usize,
            std::env::consts::ARCH
        );
    }
    Ok(())
}

/// Adds a model's spans to the rule spans of a batch of texts (one list per text, in order).
type AddModelSpans = Box<dyn Fn(&[&str], Vec<Vec<Span>>) -> Result<Vec<Vec<Span>>>>;

/// Lines per model call: the windows of several texts share model runs.
const DETECT_BATCH_LINES: usize = 64;

#[cfg(feature = "ner")]
fn load_ner(config: &Path, device: &str) -> Result<AddModelSpans> {
    let device: transformer::Device = device
        .parse()
        .map_err(|error: String| anyhow::anyhow!("--device: {error}"))?;
    let config = pii::ner::NerConfig::from_toml_file(config)?;
    let model = pii::ner::NerModel::load(&config, device)?;
    eprintln!("pii detect: {}", model.describe());
    Ok(Box::new(move |texts, rules| {
        let found = model.detect_batch(texts)?;
        Ok(rules
            .into_iter()
            .zip(found)
            .map(|(rules, found)| pii::ner::merge_spans(rules, found))
            .collect())
    }))
}

#[cfg(not(feature = "ner"))]
fn load_ner(_config: &Path, _device: &str) -> Result<AddModelSpans> {
    bail!("--ner-config needs a pii binary built with the ner feature: cargo build --release -p pii --features ner")
}

fn detect_lines(model: Option<AddModelSpans>) -> Result<()> {
    let det = Detector::new();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Rule-only detection streams line by line.
    let batch_lines = if model.is_some() { DETECT_BATCH_LINES } else { 1 };
    let mut batch: Vec<serde_json::Value> = Vec::with_capacity(batch_lines);
    let mut lines = stdin.lock().lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if !line.trim().is_empty() {
            let v: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
            let Some(obj) = v.as_object() else {
                bail!("line {}: not a JSON object", n + 1)
            };
            if !obj.get("text").is_some_and(serde_json::Value::is_string) {
                bail!("line {}: no string field \"text\"", n + 1)
            }
            batch.push(v);
        }
        if batch.len() < batch_lines && lines.peek().is_some() {
            continue;
        }
        let texts: Vec<&str> = batch.iter().map(|v| v["text"].as_str().unwrap_or_default()).collect();
        let mut found: Vec<Vec<Span>> = texts.iter().map(|text| det.detect(text)).collect();
        if let Some(model) = &model {
            found = model(&texts, found).with_context(|| format!("the ner model, lines up to {}", n + 1))?;
        }
        for (mut v, spans) in batch.drain(..).zip(found) {
            let spans: Vec<serde_json::Value> = spans
                .into_iter()
                .map(|s| serde_json::json!({"type": s.entity.as_str(), "start": s.start, "end": s.end, "score": s.score}))
                .collect();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("spans".into(), serde_json::Value::Array(spans));
            }
            serde_json::to_writer(&mut out, &v)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Loads the `text` fields of a JSON-lines file until `limit_bytes` bytes of text (0: no limit).
fn load_texts(path: &PathBuf, limit_bytes: usize) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut texts = Vec::new();
    let mut bytes = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
        let Some(text) = v.get("text").and_then(|t| t.as_str()) else {
            bail!("line {}: no string field \"text\"", n + 1)
        };
        bytes += text.len();
        texts.push(text.to_string());
        if limit_bytes > 0 && bytes >= limit_bytes {
            break;
        }
    }
    Ok(texts)
}

fn bench(texts_path: &PathBuf, limit_bytes: usize, single_text_mb: Option<f64>, rounds: u32, json: bool) -> Result<()> {
    let texts = match single_text_mb {
        Some(mb) => {
            let target = (mb * 1e6) as usize;
            let parts = load_texts(texts_path, target)?;
            let mut one = String::with_capacity(target + 1024);
            for (i, t) in parts.iter().enumerate() {
                if i > 0 {
                    one.push('\n');
                }
                one.push_str(t);
            }
            vec![one]
        }
        None => load_texts(texts_path, limit_bytes)?,
    };
    if texts.is_empty() {
        bail!("no texts in {}", texts_path.display());
    }
    let det = Detector::new();
    let secrets = credentials::SecretScanner::new();
    let policy = pii::policy::Policy::reference();
    // Every string counts as rare: the policy does the most replacing it can.
    let doc_freq = |_: EntityType, _: &str| 0u64;
    // compile lazily-built state (and warm caches) outside the timed region
    det.detect("warm up: call +44 20 7946 0958 or mail a@b.com");
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut best = f64::INFINITY;
    let mut spans = 0usize;
    let mut redacted = 0usize;
    for _ in 0..rounds.max(1) {
        let t0 = Instant::now();
        let (mut found, mut changed) = (0usize, 0usize);
        for t in &texts {
            // The whole stage per turn, as the pipeline runs it on an English turn.
            let entities = det.detect(t);
            let keys = secrets.scan(t);
            let turn = pii::policy::TurnText {
                text: t,
                language: "English",
            };
            let redaction = policy.redact(turn, &entities, &keys, &doc_freq);
            found += entities.len();
            changed += usize::from(redaction.redacted);
        }
        best = best.min(t0.elapsed().as_secs_f64());
        spans = found;
        redacted = changed;
    }
    let mb_per_s = bytes as f64 / 1e6 / best;
    let kb_per_s = bytes as f64 / 1e3 / best;
    if json {
        let v = serde_json::json!({
            "texts": texts.len(),
            "bytes": bytes,
            "seconds": best,
            "kb_per_s": kb_per_s,
            "mb_per_s": mb_per_s,
            "spans": spans,
            "redacted_texts": redacted,
        });
        println!("{v}");
    } else {
        println!(
            "{} texts, {bytes} bytes, {best:.3} s, {mb_per_s:.2} MB/s, {spans} spans, {redacted} texts redacted (one thread, best of {})",
            texts.len(),
            rounds.max(1)
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Quality {
            file,
            types,
            bench_secs,
        } => quality(&file, &types, bench_secs),
        Cmd::Detect { ner_config, device } => {
            let model = ner_config.map(|config| load_ner(&config, &device)).transpose()?;
            detect_lines(model)
        }
        Cmd::Bench {
            texts,
            limit_bytes,
            single_text_mb,
            rounds,
            json,
        } => bench(&texts, limit_bytes, single_text_mb, rounds, json),
    }
}
