//! Transformer sequence classifiers (Detoxify or any Hugging Face classifier exported to ONNX)
//! with a `tokenizer.json`. Scores are the sigmoid of the logits. The turns of a call are
//! tokenized on all cores, split into overlapping windows when longer than the model's window,
//! sorted by length and run in batches bounded by a padded-token budget; a long text's score is
//! the max (or mean) over its windows. Tokenizer, windows, batches and the model run come from
//! the shared [`transformer`](::transformer) crate, whose runner builds the next batch's
//! tensors on a second thread while the model runs the current one.

use ::transformer::{runtime, Device, Encoder, Runner, Task};
use anyhow::{anyhow, bail, Context};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::{Aggregate, ModelConfig};
use crate::linear::hex_prefix;
use crate::{key_index, ScoreStats, Scores, ToxicityModel};

/// Window starts for a text's content tokens; defined in the shared runtime.
pub use ::transformer::window_starts;

pub struct TransformerModel {
    id: String,
    threshold: f32,
    description: String,
    encoder: Encoder,
    /// Output index → position in DETOXIFY_KEYS (None: not a Detoxify key, not released).
    labels: Vec<Option<usize>>,
    aggregate: Aggregate,
    batch_tokens: usize,
    max_batch: usize,
    runner: Runner,
}

/// One model input: a text's window of content tokens.
struct Window {
    text: usize,
    start: usize,
    len: usize,
}

fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// The id of the transformer `config` names with these files: its name and a digest of the
/// model, the tokenizer and every setting that changes its scores.
pub(crate) fn model_id(config: &ModelConfig, model_bytes: &[u8], tokenizer_bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model_bytes);
    hasher.update(tokenizer_bytes);
    hasher.update(format!(
        "{:?}|{}|{}|{:?}",
        config.labels, config.max_length, config.stride, config.aggregate
    ));
    format!("transformer:{}:{}", config.name, hex_prefix(&hasher.finalize()))
}

impl TransformerModel {
    pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<TransformerModel> {
        runtime::check_device(device)?;
        let tokenizer_path = config
            .tokenizer
            .as_ref()
            .context("a transformer model needs a tokenizer")?;
        let tokenizer_bytes = Encoder::read(tokenizer_path)?;
        let encoder = Encoder::from_bytes(&tokenizer_bytes, tokenizer_path, config.max_length, config.stride)?;

        let labels = config.labels.iter().map(|label| key_index(label)).collect::<Vec<_>>();
        if labels.iter().all(Option::is_none) {
            bail!(
                "none of the labels {:?} is a Detoxify key ({})",
                config.labels,
                crate::DETOXIFY_KEYS.join(", ")
            );
        }

        let model_bytes = config.model_bytes()?;
        let runner = Runner::load(
            &config.name,
            &model_bytes,
            device,
            config.thread_count(),
            Task::Sequence,
        )?;

        let id = model_id(config, &model_bytes, &tokenizer_bytes);
        let digest = id.rsplit(':').next().unwrap_or_default().to_string();
        let model = TransformerModel {
            id,
            threshold: config.toxic_threshold,
            description: format!(
                "transformer {} ({digest}) on {device}: window {} tokens, stride {}, {} labels",
                config.name,
                config.max_length,
                config.stride,
                config.labels.len()
            ),
            encoder,
            labels,
            aggregate: config.aggregate,
            batch_tokens: config.batch_tokens,
            max_batch: config.max_batch,
            runner,
        };
        model.check_fit(config)?;
        Ok(model)
    }

    /// Runs the tokenizer's highest id through the model: a tokenizer made for another model
    /// (ids beyond the embedding table) or a label map of the wrong length fails here.
    fn check_fit(&self, config: &ModelConfig) -> anyhow::Result<()> {
        let highest = self.encoder.tokenizer().get_vocab_size(true).saturating_sub(1) as u32;
        // The template's tokens around the id, then the template again (as since the start).
        let ids: Vec<u32> = self
            .encoder
            .prefix()
            .iter()
            .copied()
            .chain([highest])
            .chain(self.encoder.suffix().iter().copied())
            .collect();
        let logits = self.runner.run_rows(&self.encoder, &[&ids]).map_err(|error| {
            anyhow!(
                "the tokenizer does not fit the model {}: a text with the tokenizer's highest id {highest} \
                 cannot be scored ({error:#})",
                config.name
            )
        })?;
        let per_text = logits.values.len();
        if per_text != self.labels.len() {
            bail!(
                "the label map has {} labels but the model {} returns {per_text} scores per text",
                self.labels.len(),
                config.name
            );
        }
        Ok(())
    }
}

impl ToxicityModel for TransformerModel {
    fn id(&self) -> &str {
        &self.id
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn score(&self, texts: &[&str], stats: &mut ScoreStats) -> anyhow::Result<Vec<Scores>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|text| self.encoder.encode_ids(text))
            .collect::<Result<_, _>>()?;
        let mut windows = Vec::new();
        for (text, ids) in encoded.iter().enumerate() {
            let before = windows.len();
            windows.extend(
                self.encoder
                    .windows(ids.len())
                    .map(|(start, len)| Window { text, start, len }),
            );
            if windows.len() - before > 1 {
                stats.split_texts += 1;
            }
        }
        // Similar lengths together: little padding.
        windows.sort_by_key(|window| window.len);
        let rows: Vec<&[u32]> = windows
            .iter()
            .map(|window| &encoded[window.text][window.start..window.start + window.len])
            .collect();

        let labels = self.labels.len();
        let mut accumulated = vec![
            match self.aggregate {
                Aggregate::Max => f32::NEG_INFINITY,
                Aggregate::Mean => 0.0,
            };
            texts.len() * labels
        ];
        let mut window_counts = vec![0u32; texts.len()];
        let run = self.runner.run_batches(
            &self.encoder,
            &rows,
            self.max_batch,
            self.batch_tokens,
            |group, logits| -> anyhow::Result<()> {
                let scores: Vec<f32> = logits.values.into_iter().map(sigmoid).collect();
                if scores.len() != group.len() * labels {
                    bail!(
                        "the model returned {} scores for {} rows of {labels} labels",
                        scores.len(),
                        group.len()
                    );
                }
                for (row, window) in windows[group].iter().enumerate() {
                    window_counts[window.text] += 1;
                    let target = &mut accumulated[window.text * labels..(window.text + 1) * labels];
                    for (slot, &score) in target.iter_mut().zip(&scores[row * labels..(row + 1) * labels]) {
                        match self.aggregate {
                            Aggregate::Max => *slot = slot.max(score),
                            Aggregate::Mean => *slot += score,
                        }
                    }
                }
                Ok(())
            },
        )?;
        stats.texts += texts.len() as u64;
        stats.windows += windows.len() as u64;
        stats.tokens += run.tokens;
        stats.batches += run.batches;
        Ok((0..texts.len())
            .map(|text| {
                let mut scores: Scores = [None; 7];
                for (label, key) in self.labels.iter().enumerate() {
                    if let Some(key) = key {
                        let value = accumulated[text * labels + label];
                        scores[*key] = Some(match self.aggregate {
                            Aggregate::Max => value,
                            Aggregate::Mean => value / window_counts[text].max(1) as f32,
                        });
                    }
                }
                scores
            })
            .collect())
    }
}
