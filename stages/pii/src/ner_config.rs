//! The NER model's config ([`NerConfig`], read from TOML) and what its labels mean ([`Tag`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

use crate::EntityType;

/// The label classes mapped when a config has no `[entities]` table.
const DEFAULT_ENTITIES: &[(&str, EntityType)] = &[
    ("PER", EntityType::PERSON),
    ("PERSON", EntityType::PERSON),
    ("LOC", EntityType::LOCATION),
    ("LOCATION", EntityType::LOCATION),
    ("GPE", EntityType::LOCATION),
    ("NORP", EntityType::NRP),
    ("NRP", EntityType::NRP),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    model: PathBuf,
    tokenizer: PathBuf,
    labels: Vec<String>,
    name: Option<String>,
    entities: Option<BTreeMap<String, String>>,
    max_length: Option<usize>,
    stride: Option<usize>,
    min_score: Option<f32>,
    batch_tokens: Option<usize>,
    max_batch: Option<usize>,
    threads: Option<usize>,
}

/// What [`NerModel::load`] needs; usually read with [`NerConfig::from_toml_file`].
#[derive(Debug, Clone, PartialEq)]
pub struct NerConfig {
    /// Names the model in logs and errors.
    pub name: String,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    /// The model's output labels in order: `O`, `B-PER`, `I-PER`, ...
    pub labels: Vec<String>,
    /// Label class (`PER` of `B-PER`) to the entity type it finds; other classes count as `O`.
    pub entities: BTreeMap<String, EntityType>,
    /// Tokens per window, special tokens included.
    pub max_length: usize,
    /// Tokens shared by consecutive windows of a long text.
    pub stride: usize,
    /// Spans scoring below this are dropped.
    pub min_score: f32,
    /// Padded tokens per model run.
    pub batch_tokens: usize,
    /// Windows per model run.
    pub max_batch: usize,
    /// Intra-op threads on CPU; 0 = every core.
    pub threads: usize,
}

impl NerConfig {
    /// A config with the defaults for everything but the files and labels.
    pub fn new(model: PathBuf, tokenizer: PathBuf, labels: Vec<String>) -> NerConfig {
        let name = model
            .parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ner".to_string());
        NerConfig {
            name,
            model,
            tokenizer,
            labels,
            entities: DEFAULT_ENTITIES
                .iter()
                .map(|(class, entity)| (class.to_string(), *entity))
                .collect(),
            max_length: 512,
            stride: 64,
            min_score: 0.5,
            batch_tokens: 16384,
            max_batch: 64,
            threads: 0,
        }
    }

    /// Reads a TOML config; relative paths in it are relative to its directory.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<NerConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading ner config {}", path.display()))?;
        let file: FileConfig =
            toml::from_str(&text).with_context(|| format!("ner config {} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = NerConfig::new(base.join(&file.model), base.join(&file.tokenizer), file.labels);
        if let Some(name) = file.name {
            config.name = name;
        }
        if let Some(entities) = file.entities {
            config.entities = entities
                .into_iter()
                .map(|(class, entity)| {
                    let entity = entity
                        .parse::<EntityType>()
                        .map_err(|error| anyhow!("[entities] {class} = {entity:?}: {error}"))
                        .with_context(|| format!("ner config {}", path.display()))?;
                    Ok((class, entity))
                })
                .collect::<anyhow::Result<_>>()?;
        }
        config.max_length = file.max_length.unwrap_or(config.max_length);
        config.stride = file.stride.unwrap_or(config.stride);
        config.min_score = file.min_score.unwrap_or(config.min_score);
        config.batch_tokens = file.batch_tokens.unwrap_or(config.batch_tokens);
        config.max_batch = file.max_batch.unwrap_or(config.max_batch);
        config.threads = file.threads.unwrap_or(config.threads);
        config
            .check()
            .with_context(|| format!("ner config {}", path.display()))?;
        Ok(config)
    }

    /// Settings that cannot work, before any file is read.
    /// Names the model and every setting that changes what it finds: `ner:<name>:<digest>`, the
    /// digest over the model file, the tokenizer file, the labels, the entity map, the window
    /// and the minimum score. Run fingerprints compare it between coordinator and workers.
    pub fn model_id(&self) -> anyhow::Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for path in [&self.model, &self.tokenizer] {
            hasher.update(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
        }
        hasher.update(format!(
            "{:?}|{:?}|{}|{}|{}",
            self.labels, self.entities, self.max_length, self.stride, self.min_score
        ));
        let digest = hasher.finalize();
        Ok(format!("ner:{}:{}", self.name, hex_prefix(&digest)))
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.labels.is_empty() {
            bail!("`labels` is empty: name the label of each model output");
        }
        if self.tags().iter().all(|tag| *tag == Tag::Outside) {
            let classes: Vec<&str> = self.entities.keys().map(String::as_str).collect();
            bail!(
                "none of the labels {:?} has a class of [entities] ({}): the model would find nothing",
                self.labels,
                classes.join(", ")
            );
        }
        transformer::check_window_settings(self.max_length, self.stride).map_err(anyhow::Error::msg)?;
        if !(0.0..=1.0).contains(&self.min_score) {
            bail!("min_score {} is not between 0 and 1", self.min_score);
        }
        transformer::check_batch_settings(self.batch_tokens, self.max_length, self.max_batch)
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    pub(super) fn tags(&self) -> Vec<Tag> {
        self.labels
            .iter()
            .map(|label| parse_tag(label, &self.entities))
            .collect()
    }

    pub(super) fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// What one output label means for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    /// `O`, or a class with no entity type.
    Outside,
    /// Starts an entity even right after one of the same type.
    Begin(EntityType),
    /// Continues an entity of the same type, or starts one.
    Inside(EntityType),
}

/// `B-PER`, `I-PER`, `PER` (IO), and the BIOES / BILOU prefixes (`S`/`U` begin, `E`/`L` continue).
pub(super) fn parse_tag(label: &str, entities: &BTreeMap<String, EntityType>) -> Tag {
    if label == "O" {
        return Tag::Outside;
    }
    let (begins, class) = match label.split_once('-') {
        Some(("B" | "S" | "U", class)) => (true, class),
        Some(("I" | "E" | "L", class)) => (false, class),
        _ => (false, label),
    };
    match entities.get(class) {
        None => Tag::Outside,
        Some(&entity) if begins => Tag::Begin(entity),
        Some(&entity) => Tag::Inside(entity),
    }
}

fn hex_prefix(digest: &[u8]) -> String {
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}
