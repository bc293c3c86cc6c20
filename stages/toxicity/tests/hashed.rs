//! The multilingual model (`models/toxicity/multilingual`, trained by
//! `infra/models/multilingual_toxicity/build.sh`) computes the trainer's features exactly and
//! onnxruntime's scores: the golden file holds, per text, the feature buckets Python computed and
//! the scores onnxruntime gave for that text alone; Rust scores all of them in padded batches.

use std::path::{Path, PathBuf};

use serde_json::Value;
use toxicity::config::ModelKind;
use toxicity::{key_index, Device, ModelConfig, ScoreStats};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/toxicity/multilingual")
}

fn config() -> ModelConfig {
    ModelConfig::from_file(&model_dir().join("config.toml")).unwrap()
}

fn golden() -> Vec<Value> {
    std::fs::read_to_string(model_dir().join("golden.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn features_equal_the_trainers_on_every_golden_text() {
    let config = config();
    assert_eq!(config.kind, ModelKind::Hashed);
    let golden = golden();
    assert!(golden.len() >= 300, "{} golden texts", golden.len());
    let mut ids = Vec::new();
    for line in &golden {
        let text = line["text"].as_str().unwrap();
        config.hashed.ids(text, &mut ids);
        let expected: Vec<i64> = line["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_i64().unwrap())
            .collect();
        assert_eq!(
            ids,
            expected,
            "features of {:?}",
            text.chars().take(80).collect::<String>()
        );
    }
}

#[test]
fn batched_scores_equal_onnxruntimes_one_text_at_a_time() {
    let config = config();
    let model = toxicity::load(&config, Device::Cpu).unwrap();
    assert_eq!(toxicity::model_id(&config).unwrap(), model.id());
    assert!(model.id().starts_with("hashed:multilingual-hashed:"), "{}", model.id());
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|line| line["text"].as_str().unwrap()).collect();
    let scores = model.score(&texts, &mut ScoreStats::default()).unwrap();
    let columns: Vec<usize> = config.labels.iter().map(|label| key_index(label).unwrap()).collect();
    let mut worst = 0f64;
    for (line, scores) in golden.iter().zip(&scores) {
        let expected = line["scores"].as_array().unwrap();
        assert_eq!(expected.len(), columns.len());
        for (value, &column) in expected.iter().zip(&columns) {
            let actual = scores[column].expect("every configured label is scored") as f64;
            worst = worst.max((actual - value.as_f64().unwrap()).abs());
        }
        // Keys the model does not produce stay null.
        let produced = scores.iter().filter(|score| score.is_some()).count();
        assert_eq!(produced, columns.len());
    }
    assert!(worst < 1e-5, "largest difference {worst}");
}

#[test]
fn settings_that_cannot_work_fail_at_load_with_the_reason() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("hashed.toml");
    let model = model_dir().join("model.onnx");
    let write = |extra: &str| {
        std::fs::write(
            &path,
            format!(
                "kind = \"hashed\"\nmodel = \"{}\"\nlabels = [\"toxicity\"]\n{extra}",
                model.display()
            ),
        )
        .unwrap()
    };
    write("min_n = 5\nmax_n = 2\n");
    let error = format!("{:#}", ModelConfig::from_file(&path).unwrap_err());
    assert!(error.contains("min_n = 5 to max_n = 2"), "{error}");
    // One label for a model with six outputs: the start-up check says so.
    write("");
    let config = ModelConfig::from_file(&path).unwrap();
    let error = format!("{:#}", toxicity::load(&config, Device::Cpu).err().unwrap());
    assert!(
        error.contains("returned shape") && error.contains("1 labels"),
        "{error}"
    );
    write("");
    std::fs::write(
        &path,
        format!(
            "kind = \"hashed\"\nmodel = \"{}\"\nlabels = [\"rudeness\"]\n",
            model.display()
        ),
    )
    .unwrap();
    let config = ModelConfig::from_file(&path).unwrap();
    let error = format!("{:#}", toxicity::load(&config, Device::Cpu).err().unwrap());
    assert!(error.contains("\"rudeness\" is not a Detoxify key"), "{error}");
}
