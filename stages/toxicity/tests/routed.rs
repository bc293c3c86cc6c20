//! The routed model (`models/toxicity/routed`): a turn labelled English is scored and flagged by
//! the English linear model, every other turn by the multilingual model, each at its own
//! threshold; the id names the routes; configs that cannot route are refused with a reason.

use std::path::{Path, PathBuf};

use toxicity::config::{Embedded, ModelKind};
use toxicity::{Device, ModelConfig, ScoreStats, TOXICITY};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/toxicity")
}

/// Equal up to float summation order (a text's batch mates differ between the calls).
fn assert_close(actual: &toxicity::Scores, expected: &toxicity::Scores, text: &str) {
    for (actual, expected) in actual.iter().zip(expected) {
        match (actual, expected) {
            (Some(actual), Some(expected)) => {
                assert!((actual - expected).abs() < 1e-5, "{text}: {actual} != {expected}")
            }
            (actual, expected) => assert_eq!(actual, expected, "{text}"),
        }
    }
}

#[test]
fn each_language_is_scored_and_flagged_by_its_routes_model() {
    let config = ModelConfig::from_file(&models().join("routed/config.toml")).unwrap();
    assert_eq!(config.kind, ModelKind::Routed);
    let routed = toxicity::load(&config, Device::Cpu).unwrap();
    let english = toxicity::load(&ModelConfig::embedded(Embedded::Linear), Device::Cpu).unwrap();
    let multilingual_config = ModelConfig::from_file(&models().join("multilingual/config.toml")).unwrap();
    let multilingual = toxicity::load(&multilingual_config, Device::Cpu).unwrap();

    let texts = [
        "Who built you?",
        "Wie spät ist es in Berlin?",
        "you are a stupid idiot",
        "Du bist ein dummer Idiot",
        "no label",
    ];
    let languages = [Some("English"), Some("German"), Some("English"), Some("German"), None];
    let scores = routed
        .score_labelled(&texts, &languages, &mut ScoreStats::default())
        .unwrap();
    let by_english = english.score(&texts, &mut ScoreStats::default()).unwrap();
    let by_multilingual = multilingual.score(&texts, &mut ScoreStats::default()).unwrap();
    for (index, language) in languages.iter().enumerate() {
        let expected = if *language == Some("English") {
            by_english[index]
        } else {
            by_multilingual[index]
        };
        assert_close(&scores[index], &expected, texts[index]);
    }
    assert!(
        scores[0][TOXICITY].unwrap() < routed.threshold_for(Some("English")),
        "a short English question is not the multilingual model's to judge"
    );
    assert_eq!(routed.threshold_for(Some("English")), english.threshold());
    assert_eq!(routed.threshold_for(Some("German")), multilingual.threshold());
    assert_eq!(routed.threshold_for(None), multilingual.threshold());
    // Without labels every text takes the fallback.
    let unlabelled = routed.score(&texts, &mut ScoreStats::default()).unwrap();
    for (index, text) in texts.iter().enumerate() {
        assert_close(&unlabelled[index], &by_multilingual[index], text);
    }

    let id = toxicity::model_id(&config).unwrap();
    assert_eq!(routed.id(), id);
    assert!(id.starts_with("routed:english-linear+multilingual-hashed:"), "{id}");
    let description = routed.describe();
    assert!(
        description.contains("English -> linear") && description.contains("other languages -> hashed"),
        "{description}"
    );
}

#[test]
fn a_routed_config_needs_a_fallback_and_routes_to_plain_models() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("routed.toml");
    let multilingual = models().join("multilingual/config.toml");
    let error_of = |text: String| {
        std::fs::write(&path, text).unwrap();
        format!("{:#}", ModelConfig::from_file(&path).unwrap_err())
    };
    let error = error_of("kind = \"routed\"\n[routes]\nEnglish = \"default\"\n".to_string());
    assert!(error.contains("`fallback`"), "{error}");
    let error = error_of(format!(
        "kind = \"routed\"\nfallback = \"{}\"\ntoxic_threshold = 0.5\n",
        multilingual.display()
    ));
    assert!(
        error.contains("no `model`, `labels`, `languages` or `toxic_threshold` of its own"),
        "{error}"
    );
    let routed = models().join("routed/config.toml");
    let error = error_of(format!("kind = \"routed\"\nfallback = \"{}\"\n", routed.display()));
    assert!(error.contains("is itself routed"), "{error}");
    let error = error_of("kind = \"linear\"\nmodel = \"m.onnx\"\nfallback = \"default\"\n".to_string());
    assert!(error.contains("belong to kind = \"routed\""), "{error}");

    // Languages routed to one model share its entry; another route is another id.
    std::fs::write(
        &path,
        format!(
            "kind = \"routed\"\nname = \"r\"\nfallback = \"{}\"\n[routes]\nEnglish = \"default\"\nScots = \"default\"\n",
            multilingual.display()
        ),
    )
    .unwrap();
    let config = ModelConfig::from_file(&path).unwrap();
    let routing = config.routing.as_ref().unwrap();
    assert_eq!(routing.routes.len(), 1);
    assert_eq!(routing.routes[0].0, ["English", "Scots"]);
    assert_eq!(
        config.threshold_for(Some("Scots")),
        ModelConfig::embedded(Embedded::Linear).toxic_threshold
    );
    let shared_route = toxicity::model_id(&config).unwrap();
    std::fs::write(
        &path,
        format!(
            "kind = \"routed\"\nname = \"r\"\nfallback = \"{}\"\n[routes]\nEnglish = \"default\"\n",
            multilingual.display()
        ),
    )
    .unwrap();
    assert_ne!(
        toxicity::model_id(&ModelConfig::from_file(&path).unwrap()).unwrap(),
        shared_route
    );
}

#[test]
fn the_embedded_routed_model_is_the_committed_routed_model() {
    let default = ModelConfig::embedded_routed();
    let committed = ModelConfig::from_file(&models().join("routed/config.toml")).unwrap();
    assert_eq!(default.kind, ModelKind::Routed);
    assert_eq!(
        toxicity::model_id(&default).unwrap(),
        toxicity::model_id(&committed).unwrap(),
        "the embedded models are the committed files"
    );
    let routing = default.routing.as_ref().unwrap();
    assert_eq!(routing.routes.len(), 1);
    assert_eq!(routing.routes[0].0, ["English"]);
    let file = ModelConfig::from_file(&models().join("multilingual/config.toml")).unwrap();
    assert_eq!(routing.fallback.hashed, file.hashed);
    assert_eq!(routing.fallback.toxic_threshold, file.toxic_threshold);
    assert_eq!(routing.fallback.languages, file.languages);
    assert_eq!(
        default.threshold_for(Some("English")),
        toxicity::config::LINEAR_MODEL_THRESHOLD
    );
    assert_eq!(default.threshold_for(Some("German")), file.toxic_threshold);

    // Each embedded model carries the quality file measured for it (the card shows it), and the
    // committed files are up to date with the models (else `make quality-toxicity`).
    for (config, file) in [
        (&default, "routed/quality.json"),
        (&routing.routes[0].1, "profanity-check/quality.json"),
        (&*routing.fallback, "multilingual/quality.json"),
    ] {
        let quality = config
            .quality
            .as_ref()
            .unwrap_or_else(|| panic!("no quality for {file}"));
        assert_eq!(
            quality.model,
            toxicity::model_id(config).unwrap(),
            "{file} measured another model"
        );
        assert!(quality.rows.iter().any(|row| row.roc_auc.is_some()), "{file}");
    }
    assert_eq!(default.quality, committed.quality);

    // Loaded, it scores as the committed files do.
    let embedded = toxicity::load(&default, Device::Cpu).unwrap();
    let from_files = toxicity::load(&committed, Device::Cpu).unwrap();
    let texts = [
        "you are a stupid idiot",
        "Du bist ein dummer Idiot",
        "Quelle heure est-il ?",
    ];
    let languages = [Some("English"), Some("German"), Some("French")];
    let expected = from_files
        .score_labelled(&texts, &languages, &mut ScoreStats::default())
        .unwrap();
    let actual = embedded
        .score_labelled(&texts, &languages, &mut ScoreStats::default())
        .unwrap();
    assert_eq!(actual, expected);
}
