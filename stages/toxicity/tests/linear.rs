//! The default model (embedded) reproduces scikit-learn: the golden file written by
//! `infra/models/profanity_check/build.sh` holds `predict_proba` of the package's pipeline for
//! each string (Unicode tokens, lowercased by Python); Rust lowercases and runs the ONNX graph.

use std::path::Path;

use serde_json::Value;
use toxicity::config::Embedded;
use toxicity::{Device, ModelConfig, ScoreStats, TOXICITY};

fn model_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/toxicity/profanity-check")
}

#[test]
fn default_model_equals_sklearn_on_the_golden_strings() {
    check_golden(&ModelConfig::embedded(Embedded::Linear));
}

#[test]
fn the_id_computed_without_loading_is_the_loaded_models() {
    let config = ModelConfig::embedded(Embedded::Linear);
    let model = toxicity::load(&config, Device::Cpu).unwrap();
    assert_eq!(toxicity::model_id(&config).unwrap(), model.id());
    assert!(
        model.id().starts_with("linear:alt-profanity-check-1.9.1:"),
        "{}",
        model.id()
    );
}

/// skl2onnx's own graph (text input, ONNX Runtime's tokenizer) gives the same scores.
#[test]
fn text_form_equals_sklearn_on_the_golden_strings() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("linear.toml");
    let model = model_dir().join("model.onnx");
    std::fs::write(&path, format!("kind = \"linear\"\nmodel = \"{}\"\n", model.display())).unwrap();
    check_golden(&ModelConfig::from_file(&path).unwrap());
}

fn check_golden(config: &ModelConfig) {
    let golden = model_dir().join("golden.jsonl");
    let lines: Vec<Value> = std::fs::read_to_string(golden)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(lines.len() >= 1000, "{} golden strings", lines.len());
    let texts: Vec<&str> = lines.iter().map(|line| line["text"].as_str().unwrap()).collect();
    let model = toxicity::load(config, Device::Cpu).unwrap();
    let scores = model.score(&texts, &mut ScoreStats::default()).unwrap();
    let mut worst = (0f64, "");
    let mut above = 0;
    for ((line, text), scores) in lines.iter().zip(&texts).zip(&scores) {
        let expected = line["toxicity"].as_f64().unwrap();
        let actual = scores[TOXICITY].unwrap() as f64;
        let difference = (actual - expected).abs();
        if difference > worst.0 {
            worst = (difference, text);
        }
        above += usize::from(expected > 0.1);
        assert!(scores
            .iter()
            .enumerate()
            .all(|(key, score)| key == TOXICITY || score.is_none()));
    }
    assert!(worst.0 < 1e-5, "max |rust - sklearn| = {} on {:?}", worst.0, worst.1);
    assert!(
        above > 100 && above < lines.len() - 100,
        "the golden set has both toxic and clean strings"
    );
    // Batch composition moves a score by float rounding at most.
    let alone = model.score(&texts[..1], &mut ScoreStats::default()).unwrap();
    assert!((alone[0][TOXICITY].unwrap() - scores[0][TOXICITY].unwrap()).abs() < 1e-6);
    eprintln!("{} golden strings, max |rust - sklearn| = {:e}", lines.len(), worst.0);
}
