//! Language labels: our detector against plain lingua (all languages, preloaded models), side by
//! side on the same texts, one core each. Prints agreement and per-text cost.
//!
//!   cargo bench -p language --bench language -- [--store DIR | --texts FILE.jsonl] [--lingua-sample N]
//!
//! `--store DIR` takes every user message and reply from the raw logs under `DIR/raw` (e.g.
//! written by `coordinator generate`); `--texts` reads `{"text": ...}` lines; with neither it
//! runs on lingua's own test sentences of every language.

use std::io::BufRead;
use std::time::Instant;

use language::{lingua_test_texts, LanguageDetector, NO_LANGUAGE};
use lingua::{Language, LanguageDetectorBuilder};

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().collect();
    let option = |name: &str| {
        arguments
            .iter()
            .position(|a| a == name)
            .and_then(|i| arguments.get(i + 1))
            .cloned()
    };
    let texts: Vec<String> = if let Some(store) = option("--store") {
        raw_texts(std::path::Path::new(&store))?
    } else {
        match option("--texts") {
            Some(path) => std::io::BufReader::new(std::fs::File::open(&path)?)
                .lines()
                .map(|line| -> anyhow::Result<String> {
                    let value: serde_json::Value = serde_json::from_str(&line?)?;
                    Ok(value["text"].as_str().unwrap_or_default().to_string())
                })
                .collect::<Result<_, _>>()?,
            None => {
                let mut languages: Vec<Language> = Language::all().into_iter().collect();
                languages.sort();
                languages
                    .into_iter()
                    .flat_map(|language| lingua_test_texts(language, "sentences.txt"))
                    .map(str::to_string)
                    .collect()
            }
        }
    };
    let sample: usize = option("--lingua-sample").map_or(Ok(texts.len()), |n| n.parse())?;
    let stride = (texts.len() / sample.max(1)).max(1);
    let sampled: Vec<&String> = texts.iter().step_by(stride).collect();
    let bytes: usize = sampled.iter().map(|text| text.len()).sum();
    println!("texts: {} (mean {} bytes)", sampled.len(), bytes / sampled.len().max(1));

    let started = Instant::now();
    let ours = LanguageDetector::load()?;
    println!("ours: models loaded in {:.2} s", started.elapsed().as_secs_f64());
    if arguments.iter().any(|a| a == "--ours-only") {
        let started = Instant::now();
        let labelled = sampled.iter().filter(|text| ours.label(text) != NO_LANGUAGE).count();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "ours: {:.1} µs/text ({labelled} labelled)",
            seconds * 1e6 / sampled.len() as f64
        );
        return Ok(());
    }
    let started = Instant::now();
    let plain = LanguageDetectorBuilder::from_all_languages()
        .with_preloaded_language_models()
        .build();
    // lingua may finish loading lazily: a warm-up pass keeps that out of the timing.
    for text in sampled.iter().take(200) {
        plain.detect_language_of(text.as_str());
    }
    println!(
        "lingua: models loaded in {:.2} s (with warm-up)",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let reference: Vec<String> = sampled
        .iter()
        .map(|text| {
            plain
                .detect_language_of(text.as_str())
                .map_or(NO_LANGUAGE.to_string(), |l| l.to_string())
        })
        .collect();
    let lingua_seconds = started.elapsed().as_secs_f64();

    // Ours twice: cold (every text computed) and warm (the content cache answers repeats).
    let started = Instant::now();
    let labels: Vec<String> = sampled.iter().map(|text| ours.label(text).to_string()).collect();
    let ours_seconds = started.elapsed().as_secs_f64();

    let disagreements: Vec<usize> = (0..sampled.len()).filter(|&i| labels[i] != reference[i]).collect();
    let n = sampled.len() as f64;
    println!(
        "lingua: {:.1} µs/text   ours: {:.1} µs/text   speed-up {:.1}x",
        lingua_seconds * 1e6 / n,
        ours_seconds * 1e6 / n,
        lingua_seconds / ours_seconds
    );
    println!(
        "agreement: {:.4}% ({} of {} differ)",
        100.0 * (1.0 - disagreements.len() as f64 / n),
        disagreements.len(),
        sampled.len()
    );
    for &i in disagreements.iter().take(10) {
        let excerpt: String = sampled[i].chars().take(80).collect();
        println!("  lingua {} ours {}: {:?}", reference[i], labels[i], excerpt);
    }
    Ok(())
}

/// The newest user message and the reply of every parseable raw row under `store/raw`.
fn raw_texts(store: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut objects: Vec<_> = std::fs::read_dir(store.join("raw"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    objects.sort();
    let mut texts = Vec::new();
    for path in objects {
        let compression = shared::lines::Compression::from_key(&path.to_string_lossy());
        let reader = compression.decoder(std::fs::File::open(&path)?)?;
        for line in reader.split(b'\n') {
            if let Ok(parsed) = shared::raw::parse_raw_line(&line?) {
                texts.push(parsed.row.user_content);
                texts.push(parsed.row.assistant_content);
            }
        }
    }
    Ok(texts)
}
