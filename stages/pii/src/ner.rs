//! An optional token-classification (NER) model next to the rules (cargo feature `ner`): a
//! Hugging Face style token classifier exported to ONNX, with its `tokenizer.json`, finds PERSON,
//! LOCATION and NRP spans that the cue-based rules miss. Without a configured model, detection is
//! rule-only; this module is never used implicitly.
//!
//! Texts are tokenized without special tokens and split into windows of `max_length` tokens
//! (special tokens included) that share `stride` tokens, the way the toxicity transformer windows
//! long texts. Windows of a call are sorted by length and run in batches bounded by a padded-token
//! budget. Every token takes the softmax of its logits from the window where it has the most
//! context on its nearer side (the earlier window on ties), so overlapping windows never give two
//! answers. The probabilities of a word's tokens are averaged, the word gets its top label, and
//! words are grouped by BIO tags (plain IO labels, and BIOES/BILOU prefixes, are read too). A
//! span's score is the mean over its words of the top label's probability; spans under
//! `min_score` are dropped. Offsets come back in code points, like every [`Span`].
//!
//! The tokenizer template, windows, batches and model runs come from the shared [`transformer`]
//! crate (which builds the next batch's tensors on a second thread while the model runs the
//! current one), whose [`transformer::runtime`] owns the one ONNX Runtime environment a process
//! may create (the toxicity stage uses the same).
//!
//! # The model
//!
//! - inputs: `input_ids` (required), `attention_mask` and `token_type_ids` (optional), all int64
//!   `[batch, sequence]` with dynamic axes; no other inputs;
//! - output: `logits` (or the only output), float32 `[batch, sequence, labels]`, one row per
//!   token in the order of the `labels` list of the config;
//! - at least `max_length` positions, and an embedding row for every id of the tokenizer.
//!
//! Load checks these by running the model on the tokenizer's highest id and on a full window, so
//! a tokenizer, label list or `max_length` that does not fit the model fails at start-up with a
//! message that says which.
//!
//! # The config
//!
//! ```toml
//! model = "model.onnx"              # paths are relative to this file
//! tokenizer = "tokenizer.json"
//! labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # output order
//! name = "bert-ner"                 # for logs; default: the model's folder name
//! max_length = 512                  # tokens per window, special tokens included (default 512)
//! stride = 64                       # tokens shared by consecutive windows (default 64)
//! min_score = 0.5                   # spans scoring below are dropped (default 0.5)
//! batch_tokens = 16384              # padded tokens per model run (default 16384)
//! max_batch = 64                    # windows per model run (default 64)
//! threads = 0                       # intra-op threads on CPU, 0 = every core (default 0)
//!
//! [entities]                        # label class -> Presidio type; classes not listed are O
//! PER = "PERSON"                    # default map: PER, PERSON -> PERSON; LOC, LOCATION,
//! LOC = "LOCATION"                  # GPE -> LOCATION; NORP, NRP -> NRP
//! ```

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context};
use transformer::{runtime, Device, Encoder, Runner, Task};

#[cfg(test)]
use config::parse_tag;
pub use config::NerConfig;
use config::Tag;

use crate::{EntityType, Span};

#[path = "ner_config.rs"]
mod config;

/// A loaded token classifier. Detection is safe from several threads at once (runs of the model
/// take turns on one session).
pub struct NerModel {
    description: String,
    encoder: Encoder,
    tags: Vec<Tag>,
    min_score: f32,
    batch_tokens: usize,
    max_batch: usize,
    runner: Runner,
}

/// A text's tokens, without special tokens.
struct Encoded {
    ids: Vec<u32>,
    /// Byte offsets into the text.
    offsets: Vec<(usize, usize)>,
    words: Vec<Option<u32>>,
    /// Token -> the window (index into this text's windows) its probabilities come from.
    owners: Vec<u32>,
    /// (first token, tokens) of each window.
    windows: Vec<(usize, usize)>,
}

/// What the model saw and said for one text; the tests compare it with the Python reference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Analysis {
    pub(crate) windows: usize,
    /// Per token, the label probabilities, row-major [tokens, labels].
    pub(crate) probabilities: Vec<f32>,
    pub(crate) spans: Vec<Span>,
}

/// One model input: a window of a text's content tokens.
struct Window {
    text: usize,
    index: u32,
    start: usize,
    len: usize,
}

impl NerModel {
    /// Loads the model `config` describes on `device`. Every problem (a missing file, a tokenizer
    /// with ids beyond the model's embedding table, a label list of the wrong length, windows
    /// longer than the model's positions, CUDA that cannot be registered) fails here.
    pub fn load(config: &NerConfig, device: Device) -> anyhow::Result<NerModel> {
        config.check()?;
        runtime::check_device(device)?;
        let encoder = Encoder::load(&config.tokenizer, config.max_length, config.stride)?;
        let model_bytes = std::fs::read(&config.model)
            .with_context(|| format!("reading the ner model {}", config.model.display()))?;
        let runner = Runner::load(&config.name, &model_bytes, device, config.thread_count(), Task::Token)?;
        let model = NerModel {
            description: format!(
                "ner {} on {device}: window {} tokens, stride {}, {} labels, min score {}",
                config.name,
                config.max_length,
                config.stride,
                config.labels.len(),
                config.min_score
            ),
            encoder,
            tags: config.tags(),
            min_score: config.min_score,
            batch_tokens: config.batch_tokens,
            max_batch: config.max_batch,
            runner,
        };
        model.check_fit(config)?;
        Ok(model)
    }

    /// Runs the tokenizer's highest id, then a full window, through the model: a tokenizer made
    /// for another model, a label list of the wrong length or a max_length beyond the model's
    /// positions fails here rather than on the first long text.
    fn check_fit(&self, config: &NerConfig) -> anyhow::Result<()> {
        let tokenizer = self.encoder.tokenizer();
        let highest = tokenizer.get_vocab_size(true).saturating_sub(1) as u32;
        let logits = self.runner.run_rows(&self.encoder, &[&[highest]]).map_err(|error| {
            anyhow!(
                "the tokenizer does not fit the model {}: a text with the tokenizer's highest id {highest} \
                 cannot be run ({error:#})",
                config.name
            )
        })?;
        let per_token = logits.values.len() / logits.width;
        if per_token != self.tags.len() {
            bail!(
                "the label list has {} labels but the model {} returns {per_token} scores per token",
                self.tags.len(),
                config.name
            );
        }
        let filler = tokenizer.token_to_id("a").unwrap_or(self.encoder.pad_id());
        let full = vec![filler; self.encoder.window()];
        self.runner.run_rows(&self.encoder, &[&full]).map_err(|error| {
            anyhow!(
                "the model {} cannot take a window of max_length {} tokens ({error:#}); lower max_length",
                config.name,
                config.max_length
            )
        })?;
        Ok(())
    }

    /// One line for logs: name, device and settings.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The model's spans in `text`: sorted, non-overlapping, code-point offsets.
    pub fn detect(&self, text: &str) -> anyhow::Result<Vec<Span>> {
        Ok(self.detect_batch(&[text])?.pop().unwrap_or_default())
    }

    /// [`NerModel::detect`] for several texts at once: their windows share model runs.
    pub fn detect_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<Span>>> {
        Ok(self
            .analyse(texts)?
            .into_iter()
            .map(|analysis| analysis.spans)
            .collect())
    }

    pub(crate) fn analyse(&self, texts: &[&str]) -> anyhow::Result<Vec<Analysis>> {
        let encoded = texts
            .iter()
            .map(|text| self.encode(text))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut windows: Vec<Window> = encoded
            .iter()
            .enumerate()
            .flat_map(|(text, encoding)| {
                encoding
                    .windows
                    .iter()
                    .enumerate()
                    .map(move |(index, &(start, len))| Window {
                        text,
                        index: index as u32,
                        start,
                        len,
                    })
            })
            .collect();
        // Similar lengths together: little padding.
        windows.sort_by_key(|window| window.len);
        let rows: Vec<&[u32]> = windows
            .iter()
            .map(|window| &encoded[window.text].ids[window.start..window.start + window.len])
            .collect();

        let labels = self.tags.len();
        let prefix = self.encoder.prefix().len();
        let mut probabilities: Vec<Vec<f32>> = encoded
            .iter()
            .map(|encoding| vec![0.0; encoding.ids.len() * labels])
            .collect();
        self.runner.run_batches(
            &self.encoder,
            &rows,
            self.max_batch,
            self.batch_tokens,
            |group, logits| -> anyhow::Result<()> {
                let (group, width, logits) = (&windows[group], logits.width, logits.values);
                if logits.len() != group.len() * width * labels {
                    bail!(
                        "the model returned {} logits for {} windows of {width} tokens and {labels} labels",
                        logits.len(),
                        group.len()
                    );
                }
                for (row, window) in group.iter().enumerate() {
                    let encoding = &encoded[window.text];
                    for column in 0..window.len {
                        let token = window.start + column;
                        if encoding.owners[token] != window.index {
                            continue;
                        }
                        let at = (row * width + prefix + column) * labels;
                        let target = &mut probabilities[window.text][token * labels..(token + 1) * labels];
                        softmax(&logits[at..at + labels], target);
                    }
                }
                Ok(())
            },
        )?;

        Ok(texts
            .iter()
            .zip(encoded)
            .zip(probabilities)
            .map(|((text, encoding), probabilities)| {
                let mut spans = decode(
                    &self.tags,
                    &probabilities,
                    &encoding.offsets,
                    &encoding.words,
                    self.min_score,
                );
                bytes_to_code_points(text, &mut spans);
                Analysis {
                    windows: encoding.windows.len(),
                    probabilities,
                    spans,
                }
            })
            .collect())
    }

    fn encode(&self, text: &str) -> anyhow::Result<Encoded> {
        let encoding = self
            .encoder
            .tokenizer()
            .encode(text, false)
            .map_err(|error| anyhow!("tokenizing a text: {error}"))?;
        let ids = encoding.get_ids().to_vec();
        let windows: Vec<(usize, usize)> = if ids.is_empty() {
            Vec::new()
        } else {
            self.encoder.windows(ids.len()).collect()
        };
        Ok(Encoded {
            owners: owners(&windows, ids.len()),
            ids,
            offsets: encoding.get_offsets().to_vec(),
            words: encoding.get_word_ids().to_vec(),
            windows,
        })
    }
}

fn softmax(logits: &[f32], probabilities: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (probability, logit) in probabilities.iter_mut().zip(logits) {
        *probability = (logit - max).exp();
        sum += *probability;
    }
    for probability in probabilities.iter_mut() {
        *probability /= sum;
    }
}

/// For each of `tokens` tokens, the window its probabilities come from: the one where it has
/// the most context on its nearer side, the earlier one on ties. `windows` are (start, len).
fn owners(windows: &[(usize, usize)], tokens: usize) -> Vec<u32> {
    let mut owners = vec![0u32; tokens];
    let mut rooms: Vec<Option<usize>> = vec![None; tokens];
    for (index, &(start, len)) in windows.iter().enumerate() {
        for token in start..start + len {
            let room = (token - start).min(start + len - 1 - token);
            if rooms[token].is_none_or(|best| room > best) {
                rooms[token] = Some(room);
                owners[token] = index as u32;
            }
        }
    }
    debug_assert!(rooms.iter().all(Option::is_some), "every token is in a window");
    owners
}

/// Tokens' label probabilities to entity spans in the tokenizer's (byte) offsets; see the module
/// documentation for the rules. `probabilities` is row-major [tokens, labels].
fn decode(
    tags: &[Tag],
    probabilities: &[f32],
    offsets: &[(usize, usize)],
    words: &[Option<u32>],
    min_score: f32,
) -> Vec<Span> {
    let labels = tags.len();
    debug_assert_eq!(probabilities.len(), offsets.len() * labels);
    struct Open {
        entity: EntityType,
        start: usize,
        end: usize,
        score_sum: f32,
        words: usize,
    }
    let mut spans = Vec::new();
    let close = |open: Option<Open>, spans: &mut Vec<Span>| {
        if let Some(open) = open {
            let score = open.score_sum / open.words as f32;
            if score >= min_score {
                spans.push(Span {
                    entity: open.entity,
                    start: open.start,
                    end: open.end,
                    score,
                });
            }
        }
    };
    let mut open: Option<Open> = None;
    let mut mean = vec![0f32; labels];
    let mut first = 0;
    while first < offsets.len() {
        // A word: a run of tokens with the same word id; a token without one stands alone.
        let mut last = first;
        while last + 1 < offsets.len() && words[first].is_some() && words[last + 1] == words[first] {
            last += 1;
        }
        mean.iter_mut().for_each(|value| *value = 0.0);
        for token in first..=last {
            for (value, probability) in mean
                .iter_mut()
                .zip(&probabilities[token * labels..(token + 1) * labels])
            {
                *value += probability;
            }
        }
        let count = (last - first + 1) as f32;
        mean.iter_mut().for_each(|value| *value /= count);
        let (label, probability) = mean
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (label, &value)| {
                if value > best.1 {
                    (label, value)
                } else {
                    best
                }
            });
        let (word_start, word_end) = (offsets[first].0, offsets[last].1);
        match tags[label] {
            Tag::Outside => close(open.take(), &mut spans),
            Tag::Inside(entity) if open.as_ref().is_some_and(|open| open.entity == entity) => {
                if let Some(open) = open.as_mut() {
                    open.end = word_end;
                    open.score_sum += probability;
                    open.words += 1;
                }
            }
            Tag::Begin(entity) | Tag::Inside(entity) => {
                close(open.take(), &mut spans);
                open = Some(Open {
                    entity,
                    start: word_start,
                    end: word_end,
                    score_sum: probability,
                    words: 1,
                });
            }
        }
        first = last + 1;
    }
    close(open, &mut spans);
    spans
}

/// Turns the byte offsets of sorted, non-overlapping `spans` into code-point offsets in one pass.
/// Counting the bytes that start a character never splits one, whatever the offsets.
fn bytes_to_code_points(text: &str, spans: &mut [Span]) {
    let bytes = text.as_bytes();
    let starts_char = |byte: &u8| (*byte as i8) >= -0x40;
    let mut byte = 0;
    let mut chars = 0;
    for span in spans.iter_mut() {
        for offset in [&mut span.start, &mut span.end] {
            let target = (*offset).clamp(byte, bytes.len());
            chars += bytes[byte..target].iter().filter(|b| starts_char(b)).count();
            byte = target;
            *offset = chars;
        }
    }
}

/// Rule spans plus model spans, as one sorted, non-overlapping list. Where spans overlap, the
/// higher score wins and a rule span wins a tie (then the longer span, then the earlier one);
/// a model span that overlaps a rule span it beats replaces it. Works on any inputs, overlapping
/// or not.
pub fn merge_spans(rules: Vec<Span>, model: Vec<Span>) -> Vec<Span> {
    const RULE: u8 = 0;
    const MODEL: u8 = 1;
    let mut all: Vec<(u8, Span)> = rules
        .into_iter()
        .map(|span| (RULE, span))
        .chain(model.into_iter().map(|span| (MODEL, span)))
        .collect();
    all.sort_by(|(left_source, left), (right_source, right)| {
        right
            .score
            .total_cmp(&left.score)
            .then(left_source.cmp(right_source))
            .then((right.end.saturating_sub(right.start)).cmp(&left.end.saturating_sub(left.start)))
            .then(left.start.cmp(&right.start))
    });
    let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
    for (_, span) in all {
        if span.end <= span.start {
            continue;
        }
        // Kept spans are disjoint: only the last one starting before this one's end can overlap.
        let overlaps = kept
            .range(..span.end)
            .next_back()
            .is_some_and(|(_, kept)| kept.end > span.start);
        if !overlaps {
            kept.insert(span.start, span);
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
#[path = "ner_tests.rs"]
mod tests;
