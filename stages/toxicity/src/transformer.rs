//! Transformer sequence classifiers (Detoxify or any Hugging Face classifier exported to ONNX)
//! with a `tokenizer.json`. Scores are the sigmoid of the logits. The turns of a call are
//! tokenized on all cores, split into overlapping windows when longer than the model's window,
//! sorted by length and run in batches bounded by a padded-token budget; a long text's score is
//! the max (or mean) over its windows. A second thread builds the next batch's tensors while
//! the model runs the current one, so the device does not wait for the CPU.

use std::sync::mpsc::sync_channel;

use anyhow::{anyhow, bail, Context};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::config::{Aggregate, Device, ModelConfig};
use crate::linear::hex_prefix;
use crate::pool::Pool;
use crate::{key_index, runtime, ScoreStats, Scores, ToxicityModel};

/// The inputs a transformer classifier may take; `input_ids` is required.
const INPUT_IDS: &str = "input_ids";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputType {
    F32,
    F16,
}

pub struct TransformerModel {
    id: String,
    description: String,
    tokenizer: Tokenizer,
    /// Special tokens the template puts before and after a text ([CLS] / [SEP], <s> / </s>).
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    pad_id: u32,
    /// Content tokens per window, and the distance between window starts.
    window: usize,
    step: usize,
    /// Output index → position in DETOXIFY_KEYS (None: not a Detoxify key, not released).
    labels: Vec<Option<usize>>,
    aggregate: Aggregate,
    batch_tokens: usize,
    max_batch: usize,
    session: Pool<Session>,
    attention_mask: bool,
    token_type_ids: bool,
    output: String,
    output_type: OutputType,
}

/// One model input: a text's window of content tokens.
struct Window {
    text: usize,
    start: usize,
    len: usize,
}

/// One model run's inputs, built off the model's thread.
struct Batch {
    texts: Vec<usize>,
    ids: Tensor<i64>,
    mask: Tensor<i64>,
    types: Tensor<i64>,
    tokens: u64,
}

fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// Window starts for `len` content tokens (DESIGN §6 toxicity): consecutive windows share
/// `window - step` tokens; the last one ends at the text's end. An empty text has one window.
pub fn window_starts(len: usize, window: usize, step: usize) -> Vec<usize> {
    let mut starts = vec![0];
    let mut start = 0;
    while start + window < len {
        start += step;
        starts.push(start);
    }
    starts
}

impl TransformerModel {
    pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<TransformerModel> {
        runtime::check_device(device)?;
        let tokenizer_path = config
            .tokenizer
            .as_ref()
            .context("a transformer model needs a tokenizer")?;
        let tokenizer_bytes = std::fs::read(tokenizer_path)
            .with_context(|| format!("reading the tokenizer {}", tokenizer_path.display()))?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|error| anyhow!("the tokenizer {} cannot be read: {error}", tokenizer_path.display()))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|padding| padding.pad_id)
            .or_else(|| {
                ["[PAD]", "<pad>", "<PAD>"]
                    .iter()
                    .find_map(|token| tokenizer.token_to_id(token))
            })
            .unwrap_or(0);
        tokenizer
            .with_truncation(None)
            .map_err(|error| anyhow!("the tokenizer {}: {error}", tokenizer_path.display()))?;
        tokenizer.with_padding(None);
        let probe = tokenizer
            .encode("a", true)
            .map_err(|error| anyhow!("the tokenizer {} cannot encode: {error}", tokenizer_path.display()))?;
        let mask = probe.get_special_tokens_mask();
        let first_content = mask.iter().position(|&special| special == 0).unwrap_or(mask.len());
        let last_content = mask
            .iter()
            .rposition(|&special| special == 0)
            .map_or(first_content, |last| last + 1);
        let prefix = probe.get_ids()[..first_content].to_vec();
        let suffix = probe.get_ids()[last_content..].to_vec();
        let specials = prefix.len() + suffix.len();
        if config.max_length <= specials + 2 * config.stride {
            bail!(
                "max_length {} leaves no room for text after {specials} special tokens and a stride of {}",
                config.max_length,
                config.stride
            );
        }
        let window = config.max_length - specials;
        let step = window - config.stride;

        let labels = config.labels.iter().map(|label| key_index(label)).collect::<Vec<_>>();
        if labels.iter().all(Option::is_none) {
            bail!(
                "none of the labels {:?} is a Detoxify key ({})",
                config.labels,
                crate::DETOXIFY_KEYS.join(", ")
            );
        }

        let model_bytes = config.model_bytes()?;
        let threads = match device {
            Device::Cpu => config.thread_count(),
            Device::Cuda(_) => 1,
        };
        let session = runtime::session(&config.name, &model_bytes, device, threads)?;
        let mut attention_mask = false;
        let mut token_type_ids = false;
        let mut has_ids = false;
        for input in session.inputs() {
            match (input.name(), input.dtype().tensor_type()) {
                (name, Some(TensorElementType::Int64)) => match name {
                    INPUT_IDS => has_ids = true,
                    ATTENTION_MASK => attention_mask = true,
                    TOKEN_TYPE_IDS => token_type_ids = true,
                    other => bail!(
                        "the model {} takes an input {other:?}; a classifier may take only input_ids, \
                         attention_mask and token_type_ids",
                        config.name
                    ),
                },
                (name, ty) => bail!("the model {} input {name} is {ty:?}; expected int64", config.name),
            }
        }
        if !has_ids {
            bail!("the model {} has no input_ids input", config.name);
        }
        let output = session
            .outputs()
            .iter()
            .find(|output| output.name() == "logits")
            .or_else(|| session.outputs().first())
            .context("the model has no outputs")?;
        let output_type = match output.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 => OutputType::F32,
            ValueType::Tensor {
                ty: TensorElementType::Float16,
                shape,
                ..
            } if shape.len() == 2 => OutputType::F16,
            other => bail!(
                "the model {} output {} is {other:?}; expected logits float [batch, labels]",
                config.name,
                output.name()
            ),
        };
        let output = output.name().to_string();

        let mut id_hasher = Sha256::new();
        id_hasher.update(&model_bytes);
        id_hasher.update(&tokenizer_bytes);
        id_hasher.update(format!(
            "{:?}|{}|{}|{:?}",
            config.labels, config.max_length, config.stride, config.aggregate
        ));
        let digest = hex_prefix(&id_hasher.finalize());
        let model = TransformerModel {
            id: format!("transformer:{}:{digest}", config.name),
            description: format!(
                "transformer {} ({digest}) on {device}: window {} tokens, stride {}, {} labels",
                config.name,
                config.max_length,
                config.stride,
                config.labels.len()
            ),
            tokenizer,
            prefix,
            suffix,
            pad_id,
            window,
            step,
            labels,
            aggregate: config.aggregate,
            batch_tokens: config.batch_tokens,
            max_batch: config.max_batch,
            session: Pool::new(vec![session]),
            attention_mask,
            token_type_ids,
            output,
            output_type,
        };
        model.check_fit(config)?;
        Ok(model)
    }

    /// Runs the tokenizer's highest id through the model: a tokenizer made for another model
    /// (ids beyond the embedding table) or a label map of the wrong length fails here.
    fn check_fit(&self, config: &ModelConfig) -> anyhow::Result<()> {
        let highest = self.tokenizer.get_vocab_size(true).saturating_sub(1) as u32;
        let ids: Vec<u32> = self
            .prefix
            .iter()
            .copied()
            .chain([highest])
            .chain(self.suffix.iter().copied())
            .collect();
        let batch = self.build_batch(&[(0, ids.as_slice())])?;
        let logits = self
            .run(batch)
            .map_err(|error| {
                anyhow!(
                    "the tokenizer does not fit the model {}: a text with the tokenizer's highest id {highest} \
                     cannot be scored ({error:#})",
                    config.name
                )
            })?
            .1;
        let per_text = logits.len();
        if per_text != self.labels.len() {
            bail!(
                "the label map has {} labels but the model {} returns {per_text} scores per text",
                self.labels.len(),
                config.name
            );
        }
        Ok(())
    }

    fn build_batch(&self, windows: &[(usize, &[u32])]) -> anyhow::Result<Batch> {
        let width = windows.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0) + self.prefix.len() + self.suffix.len();
        let rows = windows.len();
        let mut ids = vec![self.pad_id as i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        let mut tokens = 0u64;
        for (row, (_, content)) in windows.iter().enumerate() {
            let sequence = self.prefix.iter().chain(content.iter()).chain(self.suffix.iter());
            let mut length = 0;
            for (column, &id) in sequence.enumerate() {
                ids[row * width + column] = id as i64;
                mask[row * width + column] = 1;
                length += 1;
            }
            tokens += length as u64;
        }
        let shape = vec![rows as i64, width as i64];
        let tensor = |values: Vec<i64>| {
            Tensor::from_array((shape.clone(), values)).map_err(|error| anyhow!("cannot build a model input: {error}"))
        };
        Ok(Batch {
            texts: windows.iter().map(|(text, _)| *text).collect(),
            ids: tensor(ids)?,
            mask: tensor(mask)?,
            types: tensor(vec![0i64; rows * width])?,
            tokens,
        })
    }

    /// Runs one batch; returns its texts and the sigmoid scores, row-major [rows, labels].
    fn run(&self, batch: Batch) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let mut inputs = ort::inputs![INPUT_IDS => batch.ids];
        if self.attention_mask {
            inputs.push((ATTENTION_MASK.into(), batch.mask.into()));
        }
        if self.token_type_ids {
            inputs.push((TOKEN_TYPE_IDS.into(), batch.types.into()));
        }
        let rows = batch.texts.len();
        let mut session = self.session.take();
        let outputs = session
            .run(inputs)
            .map_err(|error| anyhow!("the model failed on a batch of {rows}: {error}"))?;
        let value = &outputs[self.output.as_str()];
        let logits: Vec<f32> = match self.output_type {
            OutputType::F32 => value.try_extract_tensor::<f32>().map(|(_, values)| values.to_vec()),
            OutputType::F16 => value
                .try_extract_tensor::<half::f16>()
                .map(|(_, values)| values.iter().map(|value| value.to_f32()).collect()),
        }
        .map_err(|error| anyhow!("reading the model's logits: {error}"))?;
        if rows == 0 || !logits.len().is_multiple_of(rows) {
            bail!("the model returned {} logits for {rows} rows", logits.len());
        }
        Ok((batch.texts, logits.into_iter().map(sigmoid).collect()))
    }
}

impl ToxicityModel for TransformerModel {
    fn id(&self) -> &str {
        &self.id
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
            .map(|text| {
                self.tokenizer
                    .encode(*text, false)
                    .map(|encoding| encoding.get_ids().to_vec())
                    .map_err(|error| anyhow!("tokenizing a text: {error}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut windows = Vec::new();
        for (text, ids) in encoded.iter().enumerate() {
            let starts = window_starts(ids.len(), self.window, self.step);
            if starts.len() > 1 {
                stats.split_texts += 1;
            }
            for start in starts {
                windows.push(Window {
                    text,
                    start,
                    len: (ids.len() - start).min(self.window),
                });
            }
        }
        // Similar lengths together: little padding.
        windows.sort_by_key(|window| window.len);
        let specials = self.prefix.len() + self.suffix.len();
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        let mut begin = 0;
        for (index, window) in windows.iter().enumerate() {
            let rows = index + 1 - begin;
            if rows > self.max_batch || rows * (window.len + specials) > self.batch_tokens {
                groups.push(begin..index);
                begin = index;
            }
        }
        groups.push(begin..windows.len());

        let labels = self.labels.len();
        let mut accumulated = vec![
            match self.aggregate {
                Aggregate::Max => f32::NEG_INFINITY,
                Aggregate::Mean => 0.0,
            };
            texts.len() * labels
        ];
        let mut window_counts = vec![0u32; texts.len()];
        let (sender, receiver) = sync_channel::<anyhow::Result<Batch>>(2);
        let mut tokens = 0u64;
        let mut batches = 0u64;
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let windows = &windows;
            let encoded = &encoded;
            let groups = &groups;
            scope.spawn(move || {
                for group in groups {
                    let slices: Vec<(usize, &[u32])> = windows[group.clone()]
                        .iter()
                        .map(|window| {
                            (
                                window.text,
                                &encoded[window.text][window.start..window.start + window.len],
                            )
                        })
                        .collect();
                    if sender.send(self.build_batch(&slices)).is_err() {
                        return;
                    }
                }
            });
            for batch in receiver.iter() {
                let batch = batch?;
                tokens += batch.tokens;
                batches += 1;
                let (rows, scores) = self.run(batch)?;
                if scores.len() != rows.len() * labels {
                    bail!(
                        "the model returned {} scores for {} rows of {labels} labels",
                        scores.len(),
                        rows.len()
                    );
                }
                for (row, text) in rows.into_iter().enumerate() {
                    window_counts[text] += 1;
                    let target = &mut accumulated[text * labels..(text + 1) * labels];
                    for (slot, &score) in target.iter_mut().zip(&scores[row * labels..(row + 1) * labels]) {
                        match self.aggregate {
                            Aggregate::Max => *slot = slot.max(score),
                            Aggregate::Mean => *slot += score,
                        }
                    }
                }
            }
            Ok(())
        })?;
        stats.texts += texts.len() as u64;
        stats.windows += windows.len() as u64;
        stats.tokens += tokens;
        stats.batches += batches;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_by_the_stride_and_end_at_the_text_end() {
        assert_eq!(window_starts(0, 62, 46), vec![0]);
        assert_eq!(window_starts(62, 62, 46), vec![0]);
        assert_eq!(window_starts(63, 62, 46), vec![0, 46]);
        assert_eq!(window_starts(200, 62, 46), vec![0, 46, 92, 138]);
        // Every token is in some window, and the last window reaches the end.
        for len in 0..400 {
            let starts = window_starts(len, 62, 46);
            let last = *starts.last().unwrap();
            assert!(last + 62 >= len);
            assert!(starts.windows(2).all(|pair| pair[1] - pair[0] == 46));
        }
    }
}
