//! Toxicity scores for conversation turns (DESIGN §6) with ONNX Runtime.
//!
//! Behind [`ToxicityModel`]: the English linear model (a TF-IDF and calibrated linear SVM
//! converted from `alt-profanity-check`, embedded in the binary), hashed embedding-bag models
//! (the multilingual model this project trains, embedded too), transformer sequence classifiers
//! (Detoxify or any Hugging Face classifier exported to ONNX, with a `tokenizer.json`), and
//! routed models that pick one of those per turn by its language label. The default is routed:
//! English turns to the linear model, every other turn to the multilingual model. Scores come in Detoxify's seven keys; a key
//! the model does not produce stays `None`.

pub mod cache;
pub mod config;
pub mod hashed;
pub mod linear;
pub mod quality;
pub mod routed;
pub mod stage;
pub mod transformer;

use std::sync::Arc;

use anyhow::Context;

/// The ONNX Runtime library and sessions, and the session pool, of the shared transformer
/// runtime; re-exported so that `toxicity::runtime` and `toxicity::pool` keep working.
pub use ::transformer::{pool, runtime};
pub use config::{Device, ModelConfig, ModelKind};

/// Detoxify's score keys in the release card's order.
pub const DETOXIFY_KEYS: [&str; 7] = [
    "identity_attack",
    "insult",
    "obscene",
    "severe_toxicity",
    "sexual_explicit",
    "threat",
    "toxicity",
];

/// Index of `toxicity` in [`DETOXIFY_KEYS`].
pub const TOXICITY: usize = 6;

/// The reference's threshold for Detoxify's `toxicity` score (DESIGN §6): transformer configs
/// default to it. Other models carry their own (`toxic_threshold`, [`ToxicityModel::threshold`]).
pub const DETOXIFY_THRESHOLD: f32 = 0.1;

/// One text's scores in [`DETOXIFY_KEYS`] order; `None` where the model has no such label.
pub type Scores = [Option<f32>; 7];

/// The position of a Detoxify key in [`DETOXIFY_KEYS`].
pub fn key_index(name: &str) -> Option<usize> {
    DETOXIFY_KEYS.iter().position(|key| *key == name)
}

/// DESIGN §6: a turn is toxic when its content is non-empty and the moderation source
/// flagged it or its `toxicity` score is above the model's `threshold`.
pub fn is_toxic(content: &str, scores: &Scores, moderation_flagged: bool, threshold: f32) -> bool {
    !content.is_empty() && (moderation_flagged || scores[TOXICITY].is_some_and(|score| score > threshold))
}

/// What one scoring call did, for progress lines, metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreStats {
    /// Texts scored by the model (cache hits excluded).
    pub texts: u64,
    /// Texts answered from the cache.
    pub cached: u64,
    /// Model inputs: texts, or windows for transformers.
    pub windows: u64,
    /// Texts longer than one window (transformers).
    pub split_texts: u64,
    /// Tokens fed to the model, special tokens included, padding excluded (transformers).
    pub tokens: u64,
    /// Model runs.
    pub batches: u64,
}

impl ScoreStats {
    pub fn add(&mut self, other: &ScoreStats) {
        self.texts += other.texts;
        self.cached += other.cached;
        self.windows += other.windows;
        self.split_texts += other.split_texts;
        self.tokens += other.tokens;
        self.batches += other.batches;
    }
}

/// A loaded toxicity model. Scoring is safe from several threads at once.
pub trait ToxicityModel: Send + Sync {
    /// Identifies the model and every setting that changes its scores (cache keys use it).
    fn id(&self) -> &str;
    /// One line for logs: kind, source, device.
    fn describe(&self) -> String;
    /// A turn is flagged when its `toxicity` score is above this (the config's
    /// `toxic_threshold`, chosen for the model's own scale).
    fn threshold(&self) -> f32;
    /// Scores `texts`, one [`Scores`] per text in order.
    fn score(&self, texts: &[&str], stats: &mut ScoreStats) -> anyhow::Result<Vec<Scores>>;
    /// Scores texts whose language labels are known (one per text). A routed model sends each
    /// text to its language's model; every other model ignores the labels.
    fn score_labelled(
        &self,
        texts: &[&str],
        _languages: &[Option<&str>],
        stats: &mut ScoreStats,
    ) -> anyhow::Result<Vec<Scores>> {
        self.score(texts, stats)
    }
    /// The threshold of a text labelled `language` (a routed model's route's); others answer
    /// [`ToxicityModel::threshold`].
    fn threshold_for(&self, _language: Option<&str>) -> f32 {
        self.threshold()
    }
}

/// Loads the model `config` describes on `device`; every problem (missing file, a tokenizer or
/// label map that does not fit the model, CUDA that cannot be registered) fails here, at start-up.
pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<Arc<dyn ToxicityModel>> {
    Ok(match config.kind {
        ModelKind::Linear => Arc::new(linear::LinearModel::load(config, device)?),
        ModelKind::Transformer => Arc::new(transformer::TransformerModel::load(config, device)?),
        ModelKind::Hashed => Arc::new(hashed::HashedModel::load(config, device)?),
        ModelKind::Routed => Arc::new(routed::RoutedModel::load(config, device)?),
    })
}

/// Rows (given by width) in batches of similar width, so that little padding is fed: sorted by
/// width, cut before a batch would exceed `max_rows` rows or `max_cells` padded cells.
pub(crate) fn batches_by_width(widths: &[usize], max_rows: usize, max_cells: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&row| widths[row]);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for row in order {
        let width = widths[row].max(1);
        if !current.is_empty() && (current.len() >= max_rows || (current.len() + 1) * width > max_cells) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(row);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The id the model `config` names will have once loaded (what [`ToxicityModel::id`] returns),
/// computed from its files without loading it: a coordinator records it in the run fingerprint
/// without starting ONNX Runtime.
pub fn model_id(config: &ModelConfig) -> anyhow::Result<String> {
    if let Some(routing) = &config.routing {
        return routed::model_id(config, routing);
    }
    let model_bytes = config.model_bytes()?;
    Ok(match config.kind {
        ModelKind::Linear => linear::model_id(config, &model_bytes),
        ModelKind::Hashed => hashed::model_id(config, &model_bytes),
        ModelKind::Routed => anyhow::bail!("a routed model config without routes"),
        ModelKind::Transformer => {
            let tokenizer = config
                .tokenizer
                .as_ref()
                .context("a transformer model needs a tokenizer")?;
            let tokenizer_bytes = ::transformer::Encoder::read(tokenizer)?;
            transformer::model_id(config, &model_bytes, &tokenizer_bytes)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxic_needs_content_and_a_flag_or_a_score_above_the_threshold() {
        let mut scores: Scores = [None; 7];
        assert!(!is_toxic("hello", &scores, false, 0.1));
        assert!(is_toxic("hello", &scores, true, 0.1));
        assert!(!is_toxic("", &scores, true, 0.1), "empty content is never toxic");
        scores[TOXICITY] = Some(0.1);
        assert!(!is_toxic("hello", &scores, false, 0.1), "the threshold is exclusive");
        scores[TOXICITY] = Some(0.1001);
        assert!(is_toxic("hello", &scores, false, 0.1));
        assert!(
            !is_toxic("hello", &scores, false, 0.2),
            "each model has its own threshold"
        );
        scores[TOXICITY] = Some(0.05);
        scores[key_index("insult").unwrap()] = Some(0.99);
        assert!(!is_toxic("hello", &scores, false, 0.1), "only the toxicity key decides");
    }
}
