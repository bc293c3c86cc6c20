//! Model configuration: a TOML file, or the embedded default, a routed model
//! ([`ModelConfig::embedded_routed`]): turns labelled English go to the English linear model
//! (alt-profanity-check), every other turn to the multilingual hashed model.
//! `models/toxicity/routed/config.toml` is the same model from files.
//!
//! ```toml
//! kind = "transformer"            # or "linear"
//! model = "model.onnx"            # paths are relative to the config file
//! tokenizer = "tokenizer.json"    # transformers only
//! labels = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit"]
//! max_length = 512                # tokens per window, special tokens included
//! stride = 64                     # tokens shared by consecutive windows of a long text
//! aggregate = "max"               # or "mean": how a long text's windows combine
//! batch_tokens = 16384            # padded tokens per model run
//! max_batch = 256                 # windows per model run
//! toxic_threshold = 0.1           # flag above this toxicity score (default: 0.1 for
//!                                 # transformers, Detoxify's; 0.2 for linear models)
//! languages = ["English"]         # what it was trained on (language labels), for the card
//! quality = "quality.json"        # its development-data quality (`make quality-toxicity`
//!                                 # writes it), for the card
//! ```
//!
//! A routed model sends each turn to a model by the turn's language label (the pipeline's own,
//! DESIGN §6); each model flags at its own threshold:
//!
//! ```toml
//! kind = "routed"
//! name = "english-and-multilingual"
//! fallback = "../multilingual/config.toml"   # every language without a route
//! [routes]
//! English = "embedded-linear"                # or "embedded-multilingual", or a config path
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{bail, Context};
use serde::Deserialize;
use shared::fingerprint::ModelQuality;

/// The English linear model (its sparse form), built by `infra/models/profanity_check/build.sh`.
pub static LINEAR_MODEL: &[u8] = include_bytes!("../../../models/toxicity/profanity-check/model-sparse.onnx");
/// The name the English linear model goes by in ids and logs.
pub const LINEAR_MODEL_NAME: &str = "alt-profanity-check-1.9.1";
/// The English linear model's `toxic_threshold`, chosen on development data (README, "Operating
/// point of the default model"; docs/quality/toxicity.md): its calibrated probabilities sit
/// around 0.03 to 0.12 for benign chat prompts, so Detoxify's 0.1 flagged about 2 % of them; at
/// 0.2 none of the 1,160 development prompts is flagged and 57 % of OLID's offensive tweets
/// still are. Also the default threshold of linear and hashed model configs.
pub const LINEAR_MODEL_THRESHOLD: f32 = 0.2;
/// The multilingual hashed model, built by `infra/models/multilingual_toxicity/build.sh`, and
/// its config (feature settings, labels, threshold, languages).
pub static MULTILINGUAL_MODEL: &[u8] = include_bytes!("../../../models/toxicity/multilingual/model.onnx");
static MULTILINGUAL_CONFIG: &str = include_str!("../../../models/toxicity/multilingual/config.toml");
/// The embedded models' quality files (`make quality-toxicity` writes them with the files'
/// configs, which have the same ids).
static LINEAR_QUALITY: &str = include_str!("../../../models/toxicity/profanity-check/quality.json");
static MULTILINGUAL_QUALITY: &str = include_str!("../../../models/toxicity/multilingual/quality.json");
static ROUTED_QUALITY: &str = include_str!("../../../models/toxicity/routed/quality.json");
/// The embedded multilingual model's config, parsed once.
static EMBEDDED_MULTILINGUAL: LazyLock<ModelConfig> = LazyLock::new(|| {
    let mut file: FileConfig =
        toml::from_str(MULTILINGUAL_CONFIG).expect("the embedded multilingual config is valid TOML");
    file.quality = None;
    let mut config = ModelConfig::from_parsed(Path::new("models/toxicity/multilingual"), file)
        .expect("the embedded multilingual config is valid");
    config.model = ModelSource::Embedded(Embedded::Multilingual);
    config.quality = Some(embedded_quality(MULTILINGUAL_QUALITY));
    config
});

fn embedded_quality(text: &str) -> ModelQuality {
    serde_json::from_str(text).expect("an embedded quality file is valid")
}
/// The embedded routed model's name (as `models/toxicity/routed/config.toml` names it, so that
/// both have one id).
pub const ROUTED_MODEL_NAME: &str = "english-linear+multilingual-hashed";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Linear,
    Transformer,
    /// Hashed words and character n-grams in an embedding bag ([`crate::hashed`]).
    Hashed,
    /// Other models chosen by the turn's language label ([`crate::routed`]).
    Routed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    #[default]
    Max,
    Mean,
}

/// Where inference runs; defined in the shared transformer runtime.
pub use ::transformer::Device;

/// The models embedded in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    /// The English linear model (alt-profanity-check).
    Linear,
    /// The multilingual hashed model.
    Multilingual,
}

/// The model bytes: embedded in the binary, or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Embedded(Embedded),
    File(PathBuf),
    /// A routed model has no file of its own: its routes' models have.
    Routes,
}

/// A routed model's models: by language label, and the fallback for every other label.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Language labels (as the release writes them, `English`) and the model they go to.
    pub routes: Vec<(Vec<String>, ModelConfig)>,
    pub fallback: Box<ModelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    kind: ModelKind,
    model: Option<PathBuf>,
    name: Option<String>,
    tokenizer: Option<PathBuf>,
    labels: Option<Vec<String>>,
    max_length: Option<usize>,
    stride: Option<usize>,
    #[serde(default)]
    aggregate: Aggregate,
    batch_tokens: Option<usize>,
    max_batch: Option<usize>,
    threads: Option<usize>,
    toxic_threshold: Option<f32>,
    buckets: Option<u32>,
    min_n: Option<usize>,
    max_n: Option<usize>,
    max_chars: Option<usize>,
    max_features: Option<usize>,
    routes: Option<BTreeMap<String, String>>,
    fallback: Option<String>,
    languages: Option<Vec<String>>,
    quality: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub name: String,
    pub model: ModelSource,
    pub tokenizer: Option<PathBuf>,
    /// Output index → label name (transformers).
    pub labels: Vec<String>,
    pub max_length: usize,
    pub stride: usize,
    pub aggregate: Aggregate,
    pub batch_tokens: usize,
    pub max_batch: usize,
    /// Sessions (linear) or intra-op threads (transformer on CPU); 0 = all cores.
    pub threads: usize,
    /// A turn is flagged when its `toxicity` score is above this. Default: Detoxify's 0.1 for
    /// transformers (the reference), [`LINEAR_MODEL_THRESHOLD`] for linear and hashed models.
    pub toxic_threshold: f32,
    /// How texts become features (hashed models).
    pub hashed: crate::hashed::HashedFeatures,
    /// Routed models: where each language goes.
    pub routing: Option<Routing>,
    /// The languages the model was trained on (release language labels), recorded in the run
    /// fingerprint and the card; empty when the config does not say.
    pub languages: Vec<String>,
    /// The model's quality on development data (the config's `quality` file), for the card.
    pub quality: Option<ModelQuality>,
}

impl Default for ModelConfig {
    /// The embedded routed model ([`ModelConfig::embedded_routed`]).
    fn default() -> ModelConfig {
        ModelConfig::embedded_routed()
    }
}

impl ModelConfig {
    /// The embedded routed model: turns labelled English to the English linear model, every
    /// other turn to the multilingual hashed model.
    pub fn embedded_routed() -> ModelConfig {
        let mut config = ModelConfig::routed(
            ROUTED_MODEL_NAME,
            vec![(vec!["English".to_string()], ModelConfig::embedded(Embedded::Linear))],
            ModelConfig::embedded(Embedded::Multilingual),
        );
        config.quality = Some(embedded_quality(ROUTED_QUALITY));
        config
    }

    /// An embedded model's config.
    pub fn embedded(model: Embedded) -> ModelConfig {
        match model {
            Embedded::Linear => ModelConfig {
                quality: Some(embedded_quality(LINEAR_QUALITY)),
                ..ModelConfig::linear_defaults()
            },
            Embedded::Multilingual => EMBEDDED_MULTILINGUAL.clone(),
        }
    }

    /// A routed model's config from its routes and fallback.
    pub fn routed(name: &str, routes: Vec<(Vec<String>, ModelConfig)>, fallback: ModelConfig) -> ModelConfig {
        ModelConfig {
            kind: ModelKind::Routed,
            name: name.to_string(),
            model: ModelSource::Routes,
            toxic_threshold: fallback.toxic_threshold,
            languages: Vec::new(),
            quality: None,
            routing: Some(Routing {
                routes,
                fallback: Box::new(fallback),
            }),
            ..ModelConfig::linear_defaults()
        }
    }

    /// Sessions or threads for the model, and for each of a routed model's models.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
        if let Some(routing) = &mut self.routing {
            routing.fallback.set_threads(threads);
            for (_, route) in &mut routing.routes {
                route.set_threads(threads);
            }
        }
    }

    /// Whether the model, or one of a routed model's models, is embedded in the binary.
    pub fn uses_embedded_model(&self) -> bool {
        match &self.routing {
            Some(routing) => {
                routing.fallback.uses_embedded_model()
                    || routing.routes.iter().any(|(_, route)| route.uses_embedded_model())
            }
            None => matches!(self.model, ModelSource::Embedded(_)),
        }
    }

    /// The embedded English linear model, and the settings every config starts from.
    fn linear_defaults() -> ModelConfig {
        ModelConfig {
            kind: ModelKind::Linear,
            name: LINEAR_MODEL_NAME.to_string(),
            model: ModelSource::Embedded(Embedded::Linear),
            tokenizer: None,
            labels: vec!["toxicity".to_string()],
            max_length: 512,
            stride: 64,
            aggregate: Aggregate::Max,
            batch_tokens: 16384,
            max_batch: 256,
            threads: 0,
            toxic_threshold: LINEAR_MODEL_THRESHOLD,
            hashed: crate::hashed::HashedFeatures::default(),
            routing: None,
            // alt-profanity-check learnt from English toxic-comment data.
            languages: vec!["English".to_string()],
            quality: None,
        }
    }

    /// Reads a TOML model config; relative paths in it are relative to its directory.
    pub fn from_file(path: &Path) -> anyhow::Result<ModelConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading toxicity config {}", path.display()))?;
        let file: FileConfig =
            toml::from_str(&text).with_context(|| format!("toxicity config {} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if file.kind == ModelKind::Routed {
            return routed_config(path, base, file);
        }
        ModelConfig::from_parsed(base, file).with_context(|| format!("toxicity config {}", path.display()))
    }

    /// A model config (not routed) read from a file in `base`.
    fn from_parsed(base: &Path, file: FileConfig) -> anyhow::Result<ModelConfig> {
        let defaults = ModelConfig::linear_defaults();
        let Some(model) = file.model.as_ref().map(|model| base.join(model)) else {
            bail!("`model` is missing");
        };
        if file.routes.is_some() || file.fallback.is_some() {
            bail!("`routes` and `fallback` belong to kind = \"routed\"");
        }
        let config = ModelConfig {
            kind: file.kind,
            name: file.name.unwrap_or_else(|| {
                model
                    .parent()
                    .and_then(Path::file_name)
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "model".to_string())
            }),
            model: ModelSource::File(model),
            tokenizer: file.tokenizer.map(|tokenizer| base.join(tokenizer)),
            labels: file.labels.unwrap_or(defaults.labels),
            max_length: file.max_length.unwrap_or(defaults.max_length),
            stride: file.stride.unwrap_or(defaults.stride),
            aggregate: file.aggregate,
            batch_tokens: file.batch_tokens.unwrap_or(defaults.batch_tokens),
            max_batch: file.max_batch.unwrap_or(defaults.max_batch),
            threads: file.threads.unwrap_or(0),
            toxic_threshold: file.toxic_threshold.unwrap_or(match file.kind {
                ModelKind::Transformer => crate::DETOXIFY_THRESHOLD,
                ModelKind::Linear | ModelKind::Hashed | ModelKind::Routed => LINEAR_MODEL_THRESHOLD,
            }),
            hashed: {
                let standard = crate::hashed::HashedFeatures::default();
                crate::hashed::HashedFeatures {
                    buckets: file.buckets.unwrap_or(standard.buckets),
                    min_n: file.min_n.unwrap_or(standard.min_n),
                    max_n: file.max_n.unwrap_or(standard.max_n),
                    max_chars: file.max_chars.unwrap_or(standard.max_chars),
                    max_features: file.max_features.unwrap_or(standard.max_features),
                }
            },
            routing: None,
            languages: file.languages.unwrap_or_default(),
            quality: read_quality(base, file.quality.as_deref())?,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.kind == ModelKind::Routed {
            return Ok(());
        }
        if !(self.toxic_threshold > 0.0 && self.toxic_threshold < 1.0) {
            bail!(
                "toxic_threshold = {} is not a score strictly between 0 and 1",
                self.toxic_threshold
            );
        }
        if self.kind == ModelKind::Hashed {
            self.hashed.check().map_err(anyhow::Error::msg)?;
            if self.labels.is_empty() {
                bail!("`labels` is empty: name the Detoxify key of each model output");
            }
        }
        if self.kind == ModelKind::Transformer {
            if self.tokenizer.is_none() {
                bail!("a transformer model needs `tokenizer = \"tokenizer.json\"`");
            }
            if self.labels.is_empty() {
                bail!("`labels` is empty: name the label of each model output");
            }
            ::transformer::check_window_settings(self.max_length, self.stride).map_err(anyhow::Error::msg)?;
        }
        ::transformer::check_batch_settings(self.batch_tokens, self.max_length, self.max_batch)
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The model's bytes.
    pub fn model_bytes(&self) -> anyhow::Result<Vec<u8>> {
        match &self.model {
            ModelSource::Embedded(Embedded::Linear) => Ok(LINEAR_MODEL.to_vec()),
            ModelSource::Embedded(Embedded::Multilingual) => Ok(MULTILINGUAL_MODEL.to_vec()),
            ModelSource::File(path) => {
                std::fs::read(path).with_context(|| format!("reading the toxicity model {}", path.display()))
            }
            ModelSource::Routes => bail!("a routed model has no model file of its own"),
        }
    }

    /// The threshold a turn labelled `language` is flagged above: its route's model's.
    pub fn threshold_for(&self, language: Option<&str>) -> f32 {
        match &self.routing {
            Some(routing) => routing.model_for(language).toxic_threshold,
            None => self.toxic_threshold,
        }
    }

    /// Threads to use: the configured number, or every core.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

impl Routing {
    /// The model a turn labelled `language` goes to.
    pub fn model_for(&self, language: Option<&str>) -> &ModelConfig {
        language
            .and_then(|language| {
                self.routes
                    .iter()
                    .find(|(languages, _)| languages.iter().any(|name| name == language))
            })
            .map_or(&*self.fallback, |(_, config)| config)
    }
}

/// A routed config: its routes and fallback, each `"embedded-linear"`, `"embedded-multilingual"`
/// (`"default"`, the name earlier configs used, is the embedded linear model, not the routed
/// default) or a model config
/// path relative to this file. Routes naming the same model share one entry.
fn routed_config(path: &Path, base: &Path, file: FileConfig) -> anyhow::Result<ModelConfig> {
    let context = || format!("toxicity config {}", path.display());
    if file.model.is_some() || file.toxic_threshold.is_some() || file.labels.is_some() || file.languages.is_some() {
        bail!(
            "{}: a routed model has no `model`, `labels`, `languages` or `toxic_threshold` of its own; each route's model has",
            context()
        );
    }
    let load = |spec: &str| -> anyhow::Result<ModelConfig> {
        let config = if spec == "embedded-linear" || spec == "default" {
            ModelConfig::embedded(Embedded::Linear)
        } else if spec == "embedded-multilingual" {
            ModelConfig::embedded(Embedded::Multilingual)
        } else {
            ModelConfig::from_file(&base.join(spec))?
        };
        if config.kind == ModelKind::Routed {
            bail!("{spec} is itself routed; a route names a model");
        }
        Ok(config)
    };
    let Some(fallback) = file.fallback.as_deref() else {
        bail!(
            "{}: `fallback` (the model for languages without a route) is missing",
            context()
        );
    };
    let fallback = load(fallback).with_context(context)?;
    let mut by_spec: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (language, spec) in file.routes.unwrap_or_default() {
        by_spec.entry(spec).or_default().push(language);
    }
    let mut routes = Vec::new();
    for (spec, languages) in by_spec {
        routes.push((languages, load(&spec).with_context(context)?));
    }
    let mut config = ModelConfig::routed(file.name.as_deref().unwrap_or("routed"), routes, fallback);
    config.quality = read_quality(base, file.quality.as_deref()).with_context(context)?;
    if let Some(threads) = file.threads {
        config.set_threads(threads);
    }
    Ok(config)
}

/// A config's quality file (relative to the config's directory), when it names one.
fn read_quality(base: &Path, file: Option<&Path>) -> anyhow::Result<Option<ModelQuality>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let path = base.join(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the quality file {} (`quality` in the config)", path.display()))?;
    let quality =
        serde_json::from_str(&text).with_context(|| format!("the quality file {} is not valid", path.display()))?;
    Ok(Some(quality))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_resolve_paths_and_reject_bad_settings() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("model.toml");
        std::fs::write(
            &path,
            "kind = \"transformer\"\nmodel = \"m/model.onnx\"\ntokenizer = \"m/tokenizer.json\"\nlabels = [\"toxicity\"]\nmax_length = 64\nstride = 16\n",
        )
        .unwrap();
        let config = ModelConfig::from_file(&path).unwrap();
        assert_eq!(config.model, ModelSource::File(directory.path().join("m/model.onnx")));
        assert_eq!(config.tokenizer, Some(directory.path().join("m/tokenizer.json")));
        assert_eq!(config.name, "m");

        std::fs::write(&path, "kind = \"transformer\"\nmodel = \"model.onnx\"\n").unwrap();
        let error = format!("{:#}", ModelConfig::from_file(&path).unwrap_err());
        assert!(error.contains("needs `tokenizer"), "{error}");

        assert_eq!(
            config.toxic_threshold,
            crate::DETOXIFY_THRESHOLD,
            "transformers default to Detoxify's"
        );

        std::fs::write(
            &path,
            "kind = \"linear\"\nmodel = \"model.onnx\"\ntoxic_threshold = 0.35\n",
        )
        .unwrap();
        assert_eq!(ModelConfig::from_file(&path).unwrap().toxic_threshold, 0.35);
        std::fs::write(
            &path,
            "kind = \"linear\"\nmodel = \"model.onnx\"\ntoxic_threshold = 1.5\n",
        )
        .unwrap();
        let error = format!("{:#}", ModelConfig::from_file(&path).unwrap_err());
        assert!(error.contains("toxic_threshold = 1.5"), "{error}");

        std::fs::write(&path, "kind = \"linear\"\nmodel = \"model.onnx\"\nwindow = 3\n").unwrap();
        let error = format!("{:#}", ModelConfig::from_file(&path).unwrap_err());
        assert!(error.contains("unknown field `window`"), "{error}");
    }
}
