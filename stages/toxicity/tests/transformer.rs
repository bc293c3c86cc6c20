//! The transformer path end to end on the tiny random-weight classifier of
//! `models/toxicity/tiny-bert` (built by `infra/models/tiny_classifier/build.sh`): scores equal
//! onnxruntime's own in Python, long texts are windowed and max-aggregated, and a model set-up
//! that cannot work fails at load with a message that says why.

use std::path::{Path, PathBuf};

use serde_json::Value;
use toxicity::{key_index, Device, ModelConfig, ScoreStats};

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/toxicity/tiny-bert")
}

fn golden() -> Vec<Value> {
    std::fs::read_to_string(tiny_dir().join("golden.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn tiny_classifier_scores_equal_the_python_reference_windows_included() {
    let config = ModelConfig::from_file(&tiny_dir().join("config.toml")).unwrap();
    let model = toxicity::load(&config, Device::Cpu).unwrap();
    assert_eq!(
        toxicity::model_id(&config).unwrap(),
        model.id(),
        "the id without loading is the loaded one"
    );
    let golden = golden();
    assert!(golden.len() >= 200);
    let texts: Vec<&str> = golden.iter().map(|line| line["text"].as_str().unwrap()).collect();
    let mut stats = ScoreStats::default();
    let scores = model.score(&texts, &mut stats).unwrap();
    let mut worst = 0f64;
    for (line, scores) in golden.iter().zip(&scores) {
        for (label, expected) in line["scores"].as_object().unwrap() {
            let actual = scores[key_index(label).unwrap()].expect("every tiny label is a Detoxify key") as f64;
            worst = worst.max((actual - expected.as_f64().unwrap()).abs());
        }
    }
    assert!(worst < 1e-5, "max |rust - python| = {worst}");
    let windows: u64 = golden.iter().map(|line| line["windows"].as_u64().unwrap()).sum();
    let split = golden
        .iter()
        .filter(|line| line["windows"].as_u64().unwrap() > 1)
        .count() as u64;
    assert_eq!(stats.windows, windows);
    assert_eq!(stats.split_texts, split);
    assert!(split > 100, "the golden set exercises long texts");
    assert!(stats.batches < stats.windows / 4, "windows are batched");

    // Scores do not depend on what else is in the batch.
    let alone = model.score(&texts[..3], &mut ScoreStats::default()).unwrap();
    for (left, right) in alone.iter().zip(&scores[..3]) {
        for (left, right) in left.iter().zip(right) {
            assert!((left.unwrap() - right.unwrap()).abs() < 1e-5);
        }
    }
}

fn write_config(directory: &Path, extra: &str, tokenizer: &str) -> PathBuf {
    let tiny = tiny_dir();
    let path = directory.join("model.toml");
    std::fs::write(
        &path,
        format!(
            "kind = \"transformer\"\nmodel = \"{}\"\ntokenizer = \"{tokenizer}\"\nmax_length = 64\nstride = 16\n{extra}\n",
            tiny.join("model.onnx").display()
        ),
    )
    .unwrap();
    path
}

fn load_error(path: &Path) -> String {
    let config = ModelConfig::from_file(path).unwrap();
    match toxicity::load(&config, Device::Cpu) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn set_ups_that_cannot_work_fail_at_load_with_the_reason() {
    let directory = tempfile::tempdir().unwrap();
    let tokenizer = tiny_dir().join("tokenizer.json");
    let labels7 = "labels = [\"toxicity\", \"severe_toxicity\", \"obscene\", \"threat\", \"insult\", \"identity_attack\", \"sexual_explicit\"]";

    // A label map that does not fit the model's output.
    let path = write_config(
        directory.path(),
        "labels = [\"toxicity\", \"insult\"]",
        &tokenizer.display().to_string(),
    );
    let error = load_error(&path);
    assert!(
        error.contains("label map has 2 labels") && error.contains("returns 7 scores"),
        "{error}"
    );

    // A tokenizer made for a bigger vocabulary than the model's embedding table.
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&tokenizer).unwrap()).unwrap();
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    for extra in 0..5000 {
        vocab.insert(format!("extra{extra}"), Value::from(2000 + extra));
    }
    let wrong = directory.path().join("wrong-tokenizer.json");
    std::fs::write(&wrong, serde_json::to_string(&json).unwrap()).unwrap();
    let path = write_config(directory.path(), labels7, &wrong.display().to_string());
    let error = load_error(&path);
    assert!(error.contains("tokenizer does not fit the model"), "{error}");

    // A file that is not a tokenizer.
    let garbage = directory.path().join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"a tokenizer\"}").unwrap();
    let path = write_config(directory.path(), labels7, &garbage.display().to_string());
    let error = load_error(&path);
    assert!(error.contains("cannot be read"), "{error}");

    // A missing model file.
    let path = directory.path().join("missing.toml");
    std::fs::write(
        &path,
        format!(
            "kind = \"transformer\"\nmodel = \"nowhere/model.onnx\"\ntokenizer = \"{}\"\n{labels7}\n",
            tokenizer.display()
        ),
    )
    .unwrap();
    let error = load_error(&path);
    assert!(
        error.contains("reading the toxicity model") && error.contains("nowhere/model.onnx"),
        "{error}"
    );

    // Labels none of which is a Detoxify key.
    let path = write_config(
        directory.path(),
        "labels = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]",
        &tokenizer.display().to_string(),
    );
    let error = load_error(&path);
    assert!(error.contains("is a Detoxify key"), "{error}");
}
