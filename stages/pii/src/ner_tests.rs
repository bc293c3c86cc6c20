//! The NER path end to end on the tiny random-weight token classifier of `models/pii/tiny-ner`
//! (built by `infra/models/tiny_ner/build.sh`): probabilities and spans equal onnxruntime's in
//! Python, long texts are windowed and stitched the same way, a set-up that cannot work fails at
//! load with the reason, and merging with the rule spans keeps one span per character. Needs the
//! ONNX Runtime library, found the way `transformer::runtime` finds it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::*;

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/pii/tiny-ner")
}

fn tiny_config() -> NerConfig {
    match NerConfig::from_toml_file(&tiny_dir().join("config.toml")) {
        Ok(config) => config,
        Err(error) => panic!("{error:#}"),
    }
}

fn tiny_model() -> &'static NerModel {
    static MODEL: OnceLock<NerModel> = OnceLock::new();
    MODEL.get_or_init(|| match NerModel::load(&tiny_config(), Device::Cpu) {
        Ok(model) => model,
        Err(error) => panic!("loading the tiny ner model: {error:#}"),
    })
}

fn golden() -> Vec<Value> {
    std::fs::read_to_string(tiny_dir().join("golden.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn golden_spans(line: &Value) -> Vec<(String, usize, usize, f64)> {
    line["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| {
            (
                span["type"].as_str().unwrap().to_string(),
                span["start"].as_u64().unwrap() as usize,
                span["end"].as_u64().unwrap() as usize,
                span["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The largest score difference; panics when types or offsets differ.
fn compare_spans(text: &str, actual: &[Span], expected: &[(String, usize, usize, f64)]) -> f64 {
    let actual_keys: Vec<(&str, usize, usize)> = actual
        .iter()
        .map(|span| (span.entity.as_str(), span.start, span.end))
        .collect();
    let expected_keys: Vec<(&str, usize, usize)> = expected
        .iter()
        .map(|(entity, start, end, _)| (entity.as_str(), *start, *end))
        .collect();
    assert_eq!(actual_keys, expected_keys, "spans of {text:?}");
    actual
        .iter()
        .zip(expected)
        .map(|(span, (_, _, _, score))| (f64::from(span.score) - score).abs())
        .fold(0.0, f64::max)
}

fn text_of(text: &str, span: &Span) -> String {
    text.chars().skip(span.start).take(span.end - span.start).collect()
}

#[test]
fn tiny_model_equals_the_python_reference_windows_included() {
    let model = tiny_model();
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|line| line["text"].as_str().unwrap()).collect();
    // All texts in one call: windows of different texts share padded batches.
    let analyses = model.analyse(&texts).unwrap();
    let labels = tiny_config().labels.len();
    let mut worst_probability = 0f64;
    let mut worst_score = 0f64;
    let mut spans = 0;
    for ((line, text), analysis) in golden.iter().zip(&texts).zip(&analyses) {
        assert_eq!(
            analysis.windows as u64,
            line["windows"].as_u64().unwrap(),
            "windows of {text:?}"
        );
        let expected = line["probabilities"].as_array().unwrap();
        assert_eq!(
            analysis.probabilities.len(),
            expected.len() * labels,
            "tokens of {text:?}"
        );
        for (token, row) in expected.iter().enumerate() {
            for (label, probability) in row.as_array().unwrap().iter().enumerate() {
                let actual = f64::from(analysis.probabilities[token * labels + label]);
                worst_probability = worst_probability.max((actual - probability.as_f64().unwrap()).abs());
            }
        }
        let expected_spans = golden_spans(line);
        spans += expected_spans.len();
        worst_score = worst_score.max(compare_spans(text, &analysis.spans, &expected_spans));
    }
    assert!(
        worst_probability < 1e-5,
        "max |rust - python| probability {worst_probability}"
    );
    assert!(worst_score < 1e-5, "max |rust - python| span score {worst_score}");
    assert!(spans > 100, "the golden set has spans to compare");
    assert!(
        golden
            .iter()
            .filter(|line| line["windows"].as_u64().unwrap() >= 3)
            .count()
            >= 3,
        "the golden set exercises long texts"
    );
}

#[test]
fn a_long_text_alone_in_windows_of_one_gives_the_golden_spans() {
    let golden = golden();
    let longest = golden
        .iter()
        .max_by_key(|line| line["windows"].as_u64().unwrap())
        .unwrap();
    let text = longest["text"].as_str().unwrap();
    assert!(longest["windows"].as_u64().unwrap() > 10);
    let expected = golden_spans(longest);

    let spans = tiny_model().detect(text).unwrap();
    assert!(compare_spans(text, &spans, &expected) < 1e-5);

    // One window per model run: batching and padding play no part.
    let mut config = tiny_config();
    config.max_batch = 1;
    let model = NerModel::load(&config, Device::Cpu).unwrap();
    let spans = model.detect(text).unwrap();
    assert!(compare_spans(text, &spans, &expected) < 1e-5);
}

#[test]
fn spans_are_sorted_disjoint_trimmed_code_point_ranges() {
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|line| line["text"].as_str().unwrap()).collect();
    let batched = tiny_model().detect_batch(&texts).unwrap();
    let mut multibyte = 0;
    for (text, spans) in texts.iter().zip(&batched) {
        assert_eq!(&tiny_model().detect(text).unwrap(), spans, "batch-independent");
        let chars = text.chars().count();
        for pair in spans.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{text:?}: {pair:?}");
        }
        for span in spans {
            assert!(span.start < span.end && span.end <= chars, "{text:?}: {span:?}");
            assert!(span.score >= 0.3 && span.score <= 1.0);
            let covered = text_of(text, span);
            assert_eq!(covered.trim(), covered, "{text:?}: a span starts or ends in whitespace");
            if !covered.is_ascii() {
                multibyte += 1;
            }
        }
    }
    assert!(multibyte >= 5, "multibyte spans are exercised");
    // "Zürich" is a word of the tiny vocabulary's pieces; its span covers exactly the word.
    let text = "My name is John Smithson and I live in Zürich with my sister Anna.";
    let spans = tiny_model().detect(text).unwrap();
    let covered: Vec<String> = spans.iter().map(|span| text_of(text, span)).collect();
    assert!(covered.contains(&"John Smithson".to_string()), "{covered:?}");
    assert!(tiny_model().detect("").unwrap().is_empty());
    assert!(tiny_model().detect(" \n\t ").unwrap().is_empty());
}

#[test]
fn a_loaded_model_is_shared_between_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    shared(tiny_model());
    let text = "My name is John Smithson and I live in Zürich with my sister Anna.";
    let alone = tiny_model().detect(text).unwrap();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| tiny_model().detect(text).unwrap()))
            .collect();
        for run in runs {
            assert_eq!(run.join().unwrap(), alone);
        }
    });
}

/// A scratch folder under the system temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("pii-ner-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_error(config: &NerConfig) -> String {
    match NerModel::load(config, Device::Cpu) {
        Ok(_) => panic!("{config:?} loaded"),
        Err(error) => format!("{error:#}"),
    }
}

fn config_error(directory: &Path, toml: &str) -> String {
    let path = directory.join("ner.toml");
    std::fs::write(&path, toml).unwrap();
    match NerConfig::from_toml_file(&path) {
        Ok(config) => panic!("{config:?} was accepted"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn set_ups_that_cannot_work_fail_at_load_with_the_reason() {
    let scratch = Scratch::new("load");
    let tiny = tiny_config();

    // Relative paths resolve against the config's folder.
    assert_eq!(tiny.model, tiny_dir().join("model.onnx"));
    assert_eq!(tiny.tokenizer, tiny_dir().join("tokenizer.json"));
    assert_eq!(tiny.name, "tiny-ner");
    assert_eq!(tiny.entities.get("PER"), Some(&EntityType::PERSON));
    assert!(!tiny.entities.contains_key("MISC"));

    let mut config = tiny.clone();
    config.labels.pop();
    let error = load_error(&config);
    assert!(
        error.contains("label list has 8 labels") && error.contains("returns 9 scores per token"),
        "{error}"
    );

    let mut config = tiny.clone();
    config.max_length = 64;
    let error = load_error(&config);
    assert!(
        error.contains("cannot take a window of max_length 64") && error.contains("lower max_length"),
        "{error}"
    );

    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&tiny.tokenizer).unwrap()).unwrap();
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    for extra in 0..3000 {
        vocab.insert(format!("extra{extra}"), Value::from(2000 + extra));
    }
    let wrong = scratch.0.join("wrong-tokenizer.json");
    std::fs::write(&wrong, serde_json::to_string(&json).unwrap()).unwrap();
    let mut config = tiny.clone();
    config.tokenizer = wrong;
    let error = load_error(&config);
    assert!(error.contains("tokenizer does not fit the model"), "{error}");

    let garbage = scratch.0.join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"a tokenizer\"}").unwrap();
    let mut config = tiny.clone();
    config.tokenizer = garbage;
    let error = load_error(&config);
    assert!(error.contains("cannot be read"), "{error}");

    let mut config = tiny.clone();
    config.tokenizer = scratch.0.join("nowhere/tokenizer.json");
    let error = load_error(&config);
    assert!(
        error.contains("reading the tokenizer") && error.contains("nowhere/tokenizer.json"),
        "{error}"
    );

    let mut config = tiny.clone();
    config.model = scratch.0.join("nowhere/model.onnx");
    let error = load_error(&config);
    assert!(
        error.contains("reading the ner model") && error.contains("nowhere/model.onnx"),
        "{error}"
    );

    // A sequence classifier is not a token classifier.
    let mut config = tiny.clone();
    config.model = tiny_dir().join("../../toxicity/tiny-bert/model.onnx");
    let error = load_error(&config);
    assert!(
        error.contains("expected float32 logits [batch, sequence, labels]"),
        "{error}"
    );
}

#[test]
fn config_files_reject_settings_that_cannot_work() {
    let scratch = Scratch::new("config");
    let directory = &scratch.0;
    let base = "model = \"m/model.onnx\"\ntokenizer = \"m/tokenizer.json\"\n";

    let path = directory.join("ok.toml");
    std::fs::write(&path, format!("{base}labels = [\"O\", \"B-PER\", \"I-PER\"]\n")).unwrap();
    let config = NerConfig::from_toml_file(&path).unwrap();
    assert_eq!(config.model, directory.join("m/model.onnx"));
    assert_eq!(config.name, "m");
    assert_eq!((config.max_length, config.stride, config.min_score), (512, 64, 0.5));
    assert_eq!(
        config.entities.get("GPE"),
        Some(&EntityType::LOCATION),
        "the default map"
    );

    let error = config_error(directory, &format!("{base}labels = [\"O\", \"B-ORG\", \"I-ORG\"]\n"));
    assert!(error.contains("none of the labels"), "{error}");
    let error = config_error(
        directory,
        &format!("{base}labels = [\"O\", \"B-PER\"]\n[entities]\nPER = \"PEOPLE\"\n"),
    );
    assert!(error.contains("unknown entity type \"PEOPLE\""), "{error}");
    let error = config_error(directory, &format!("{base}labels = [\"B-PER\"]\nwindow = 3\n"));
    assert!(error.contains("unknown field `window`"), "{error}");
    let error = config_error(
        directory,
        &format!("{base}labels = [\"B-PER\"]\nmax_length = 64\nstride = 32\n"),
    );
    assert!(error.contains("stride 32 must be under half"), "{error}");
    let error = config_error(directory, &format!("{base}labels = [\"B-PER\"]\nmin_score = 1.5\n"));
    assert!(error.contains("min_score 1.5"), "{error}");
    let error = config_error(directory, "model = \"model.onnx\"\nlabels = [\"B-PER\"]\n");
    assert!(error.contains("missing field `tokenizer`"), "{error}");
    let missing = format!(
        "{:#}",
        NerConfig::from_toml_file(&directory.join("absent.toml")).unwrap_err()
    );
    assert!(missing.contains("reading ner config"), "{missing}");
}

// ---------------------------------------------------------------------------------------------
// Decoding, without a model

fn entities() -> BTreeMap<String, EntityType> {
    NerConfig::new(PathBuf::new(), PathBuf::new(), Vec::new()).entities
}

#[test]
fn labels_read_as_bio_io_and_bioes_tags() {
    let map = entities();
    assert_eq!(parse_tag("O", &map), Tag::Outside);
    assert_eq!(parse_tag("B-PER", &map), Tag::Begin(EntityType::PERSON));
    assert_eq!(parse_tag("I-LOC", &map), Tag::Inside(EntityType::LOCATION));
    assert_eq!(parse_tag("S-GPE", &map), Tag::Begin(EntityType::LOCATION));
    assert_eq!(parse_tag("E-NORP", &map), Tag::Inside(EntityType::NRP));
    assert_eq!(parse_tag("PER", &map), Tag::Inside(EntityType::PERSON), "IO scheme");
    assert_eq!(parse_tag("B-MISC", &map), Tag::Outside, "unmapped classes are O");
    assert_eq!(parse_tag("B-per", &map), Tag::Outside, "classes are case-sensitive");
}

/// One-hot-ish probabilities: each token's label gets `p`, the rest share what is left.
fn probabilities(rows: &[(usize, f32)], labels: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for &(label, p) in rows {
        for index in 0..labels {
            out.push(if index == label {
                p
            } else {
                (1.0 - p) / (labels - 1) as f32
            });
        }
    }
    out
}

#[test]
fn words_group_by_tags_and_score_by_their_mean() {
    let map = entities();
    let labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC"];
    let tags: Vec<Tag> = labels.iter().map(|label| parse_tag(label, &map)).collect();
    // "Ann Lee met Bob in Rome X": tokens = words, except "Rome" = "Ro" + "##me".
    let text = "Ann Lee met Bob in Rome X";
    let offsets = [
        (0, 3),
        (4, 7),
        (8, 11),
        (12, 15),
        (16, 18),
        (19, 21),
        (21, 23),
        (24, 25),
    ];
    let words = [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), Some(5), Some(6)];
    let rows = [
        (1, 0.9), // Ann B-PER
        (2, 0.7), // Lee I-PER: continues
        (0, 0.8), // met O
        (2, 0.6), // Bob I-PER after O: starts a PERSON
        (0, 0.9), // in O
        (3, 0.8), // Ro  B-LOC
        (4, 0.9), // ##me I-LOC: one word with "Ro"; its mean says I-LOC, which starts a LOCATION
        (5, 0.9), // X MISC: unmapped, counts as O
    ];
    let spans = decode(&tags, &probabilities(&rows, labels.len()), &offsets, &words, 0.3);
    let found: Vec<(EntityType, &str)> = spans
        .iter()
        .map(|span| (span.entity, &text[span.start..span.end]))
        .collect();
    assert_eq!(
        found,
        vec![
            (EntityType::PERSON, "Ann Lee"),
            (EntityType::PERSON, "Bob"),
            (EntityType::LOCATION, "Rome")
        ]
    );
    assert!((spans[0].score - 0.8).abs() < 1e-6, "mean of 0.9 and 0.7");
    // "Rome": mean of the two tokens' vectors; I-LOC = (0.04 + 0.9) / 2.
    assert!((spans[2].score - 0.47).abs() < 1e-6, "{}", spans[2].score);

    // B after I of the same type splits; a low-scoring entity is dropped.
    let rows = [
        (1, 0.9),
        (2, 0.9),
        (1, 0.9),
        (3, 0.2),
        (0, 0.9),
        (0, 0.9),
        (0, 0.9),
        (0, 0.9),
    ];
    let spans = decode(&tags, &probabilities(&rows, labels.len()), &offsets, &words, 0.3);
    let found: Vec<&str> = spans.iter().map(|span| &text[span.start..span.end]).collect();
    assert_eq!(found, vec!["Ann Lee", "met"]);

    // Tokens without a word id each stand alone.
    let words = [None; 8];
    let rows = [
        (1, 0.9),
        (2, 0.9),
        (0, 0.9),
        (0, 0.9),
        (0, 0.9),
        (3, 0.9),
        (3, 0.9),
        (0, 0.9),
    ];
    let spans = decode(&tags, &probabilities(&rows, labels.len()), &offsets, &words, 0.3);
    let found: Vec<&str> = spans.iter().map(|span| &text[span.start..span.end]).collect();
    assert_eq!(found, vec!["Ann Lee", "Ro", "me"]);
}

#[test]
fn byte_offsets_become_code_points() {
    let text = "Zoë 😀 Ωmega x";
    let span = |start, end| Span {
        entity: EntityType::PERSON,
        start,
        end,
        score: 1.0,
    };
    let mut spans = [span(0, 4), span(5, 9), span(10, 16), span(17, 18)];
    bytes_to_code_points(text, &mut spans);
    let ranges: Vec<(usize, usize)> = spans.iter().map(|span| (span.start, span.end)).collect();
    assert_eq!(ranges, vec![(0, 3), (4, 5), (6, 11), (12, 13)]);
    assert_eq!(text_of(text, &spans[2]), "Ωmega");
    // Offsets past the end or inside a character never panic.
    let mut spans = [span(3, 6), span(6, 100)];
    bytes_to_code_points(text, &mut spans);
    assert_eq!((spans[1].end), text.chars().count());
}

#[test]
fn every_token_takes_the_window_where_it_has_most_context() {
    // Width 30, step 22 over 53 tokens: windows [0, 30), [22, 52), [44, 53).
    let long = owners(&[(0, 30), (22, 30), (44, 9)], 53);
    assert!(long[..26].iter().all(|&owner| owner == 0), "{long:?}");
    assert!(long[26..48].iter().all(|&owner| owner == 1), "{long:?}");
    assert!(long[48..].iter().all(|&owner| owner == 2), "{long:?}");
    // Token 3 has one token of room in either window: the earlier one wins.
    assert_eq!(owners(&[(0, 5), (2, 5)], 7), vec![0, 0, 0, 0, 1, 1, 1]);
    assert_eq!(owners(&[(0, 5)], 5), vec![0; 5]);
}

// ---------------------------------------------------------------------------------------------
// Merging with the rules

fn span(entity: EntityType, start: usize, end: usize, score: f32) -> Span {
    Span {
        entity,
        start,
        end,
        score,
    }
}

#[test]
fn rule_spans_win_ties_and_better_model_spans_replace_them() {
    use EntityType::{EMAIL_ADDRESS, LOCATION, NRP, PERSON};
    // A tie: the rule span stays.
    let merged = merge_spans(vec![span(PERSON, 0, 4, 0.6)], vec![span(PERSON, 0, 9, 0.6)]);
    assert_eq!(merged, vec![span(PERSON, 0, 4, 0.6)]);
    // A better model span replaces the rule span it overlaps.
    let merged = merge_spans(vec![span(PERSON, 0, 4, 0.6)], vec![span(PERSON, 0, 9, 0.9)]);
    assert_eq!(merged, vec![span(PERSON, 0, 9, 0.9)]);
    // A model span that overlaps a stronger rule span is dropped even if it beats a weaker one.
    let merged = merge_spans(
        vec![span(LOCATION, 0, 5, 0.4), span(EMAIL_ADDRESS, 10, 20, 1.0)],
        vec![span(PERSON, 3, 12, 0.8), span(NRP, 30, 35, 0.5)],
    );
    assert_eq!(
        merged,
        vec![
            span(LOCATION, 0, 5, 0.4),
            span(EMAIL_ADDRESS, 10, 20, 1.0),
            span(NRP, 30, 35, 0.5)
        ]
    );
    // Touching spans do not overlap; empty spans are dropped.
    let merged = merge_spans(
        vec![span(PERSON, 0, 4, 0.5), span(PERSON, 7, 7, 0.9)],
        vec![span(LOCATION, 4, 8, 0.4)],
    );
    assert_eq!(merged, vec![span(PERSON, 0, 4, 0.5), span(LOCATION, 4, 8, 0.4)]);
    assert!(merge_spans(Vec::new(), Vec::new()).is_empty());
}

#[test]
fn merged_spans_are_sorted_disjoint_and_only_lose_to_better_spans() {
    // A fixed pseudo-random sequence (xorshift): many small overlapping layouts.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    for _ in 0..2000 {
        let mut layout = |count: u64| -> Vec<Span> {
            let mut spans = Vec::new();
            let mut at = 0usize;
            for _ in 0..next(count) {
                at += next(6) as usize;
                let len = 1 + next(6) as usize;
                spans.push(span(EntityType::PERSON, at, at + len, next(5) as f32 / 4.0));
                at += len;
            }
            spans
        };
        let rules = layout(5);
        let model = layout(5);
        let merged = merge_spans(rules.clone(), model.clone());
        for pair in merged.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{merged:?}");
        }
        let overlap = |a: &Span, b: &Span| a.start < b.end && b.start < a.end;
        for rule in &rules {
            // A rule span is kept unless a kept model span overlapping it scores higher.
            let kept = merged.contains(rule);
            let beaten = merged
                .iter()
                .any(|kept| overlap(kept, rule) && kept != rule && kept.score >= rule.score);
            assert!(kept || beaten, "{rules:?} + {model:?} -> {merged:?}");
            if merged.iter().any(|kept| overlap(kept, rule) && kept.score > rule.score) {
                assert!(!kept);
            }
        }
        for model_span in &model {
            let kept = merged.contains(model_span);
            let beaten = merged
                .iter()
                .any(|kept| overlap(kept, model_span) && kept.score >= model_span.score);
            assert!(kept || beaten, "{rules:?} + {model:?} -> {merged:?}");
        }
    }
}

#[test]
fn rules_and_model_merge_on_code_points_of_multibyte_text() {
    let text = "Grüße von José Müller aus Zürich: jose.mueller@example.com, 😀 +41 44 668 18 00";
    let rules = crate::detect(text);
    let model = tiny_model().detect(text).unwrap();
    assert!(!model.is_empty());
    let merged = merge_spans(rules.clone(), model.clone());
    let chars = text.chars().count();
    for pair in merged.windows(2) {
        assert!(pair[0].end <= pair[1].start, "{merged:?}");
    }
    assert!(merged.iter().all(|span| span.end <= chars));
    // Each span, rule or model, is kept with its code-point offsets or lost to a kept span that
    // overlaps it and scores at least as much.
    for lost in rules.iter().chain(&model).filter(|span| !merged.contains(span)) {
        assert!(
            merged
                .iter()
                .any(|kept| kept.start < lost.end && lost.start < kept.end && kept.score >= lost.score),
            "{lost:?} in {merged:?}"
        );
    }
    assert!(rules.iter().any(|rule| rule.entity == EntityType::EMAIL_ADDRESS));
}

#[test]
fn the_model_id_changes_with_the_files_and_the_settings_that_change_spans() {
    let config = tiny_config();
    let id = config.model_id().unwrap();
    assert!(id.starts_with(&format!("ner:{}:", config.name)), "{id}");
    assert_eq!(
        tiny_config().model_id().unwrap(),
        id,
        "the same files and settings, the same id"
    );
    let mut stricter = tiny_config();
    stricter.min_score += 0.1;
    assert_ne!(stricter.model_id().unwrap(), id);
    let mut faster = tiny_config();
    faster.max_batch += 1;
    assert_eq!(faster.model_id().unwrap(), id, "batching does not change what is found");
    let mut missing = tiny_config();
    missing.model = missing.model.with_file_name("absent.onnx");
    assert!(format!("{:#}", missing.model_id().unwrap_err()).contains("absent.onnx"));
}
