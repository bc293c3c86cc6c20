//! The multilingual toxicity model (`kind = "hashed"`): hashed words and character n-grams, an
//! averaged embedding bag and one sigmoid head per Detoxify key, trained from public labelled
//! sets by `infra/models/multilingual_toxicity/` (models/toxicity/multilingual/MODEL.md).
//!
//! The features are computed here exactly as the trainer computes them
//! (`infra/models/multilingual_toxicity/features.py`): the text's first `max_chars` characters,
//! lower-cased; words are runs between Unicode White_Space characters; each word gives `w` +
//! the word and the `min_n`..=`max_n` character n-grams of `<word>`; a feature's bucket is the
//! CRC-32 of its UTF-8 bytes modulo `buckets`; at most `max_features` per text. The ONNX graph
//! takes the buckets (`ids`, int64 [N, L]) with `weights` (float [N, L], a bucket's share of
//! the text's features, 0 for padding) and returns `scores` [N, K], one column per configured
//! label. Each distinct bucket of a text is passed once with its count as weight ([`Bag`]),
//! which is the trainer's mean over every feature with fewer rows to gather.

use anyhow::{anyhow, bail, Context};
use ort::session::Session;
use ort::value::Tensor;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use ::transformer::pool::Pool;
use ::transformer::{runtime, Device};

use crate::config::ModelConfig;
use crate::linear::hex_prefix;
use crate::{key_index, ScoreStats, Scores, ToxicityModel, DETOXIFY_KEYS};

/// Feature cells (rows × widest row) per model run.
const MAX_CELLS: usize = 256 * 1024;
/// Texts per model run at most.
const MAX_ROWS: usize = 1024;

/// How texts become feature buckets; must equal the trainer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedFeatures {
    pub buckets: u32,
    pub min_n: usize,
    pub max_n: usize,
    pub max_chars: usize,
    pub max_features: usize,
}

impl Default for HashedFeatures {
    fn default() -> HashedFeatures {
        HashedFeatures {
            buckets: 1 << 17,
            min_n: 2,
            max_n: 4,
            max_chars: 1024,
            max_features: 2048,
        }
    }
}

impl HashedFeatures {
    pub fn check(&self) -> Result<(), String> {
        if self.buckets == 0 || self.max_chars == 0 || self.max_features == 0 {
            return Err("buckets, max_chars and max_features must be at least 1".to_string());
        }
        if self.min_n == 0 || self.min_n > self.max_n || self.max_n > 16 {
            return Err(format!(
                "n-grams from min_n = {} to max_n = {} do not make sense (1 <= min_n <= max_n <= 16)",
                self.min_n, self.max_n
            ));
        }
        Ok(())
    }

    /// The buckets of `text`'s features, in the trainer's order, into `out` (cleared first).
    pub fn ids(&self, text: &str, out: &mut Vec<i64>) {
        out.clear();
        let cut = text.char_indices().nth(self.max_chars).map_or(text.len(), |(at, _)| at);
        let lowered = text[..cut].to_lowercase();
        let mut marked: Vec<u8> = Vec::new();
        // Where each character of `<word>` starts, and its end.
        let mut bounds: Vec<usize> = Vec::new();
        for word in lowered.split(char::is_whitespace).filter(|word| !word.is_empty()) {
            out.push(self.bucket(!crc32_update(crc32_update(!0, b"w"), word.as_bytes())));
            marked.clear();
            marked.push(b'<');
            marked.extend_from_slice(word.as_bytes());
            marked.push(b'>');
            bounds.clear();
            bounds.push(0);
            bounds.extend(word.char_indices().map(|(at, _)| at + 1));
            bounds.extend([word.len() + 1, word.len() + 2]);
            let characters = bounds.len() - 1;
            let longest = self.max_n.min(characters);
            if self.min_n <= longest {
                // The trainer lists every 2-gram, then every 3-gram...: the n-grams starting at
                // one character are hashed in one pass (the CRC of a gram extends its prefix's)
                // and written to their places in that order.
                let mut first = [0usize; 17];
                let mut total = 0;
                for (n, slot) in first.iter_mut().enumerate().take(longest + 1).skip(self.min_n) {
                    *slot = total;
                    total += characters - n + 1;
                }
                let base = out.len();
                out.resize(base + total, 0);
                for start in 0..characters {
                    let mut state = !0u32;
                    for n in 1..=longest.min(characters - start) {
                        state = crc32_update(state, &marked[bounds[start + n - 1]..bounds[start + n]]);
                        if n >= self.min_n {
                            out[base + first[n] + start] = self.bucket(!state);
                        }
                    }
                }
            }
            if out.len() >= self.max_features {
                break;
            }
        }
        out.truncate(self.max_features);
    }

    fn bucket(&self, hash: u32) -> i64 {
        i64::from(hash % self.buckets)
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: zlib's `crc32`, the trainer's hash),
/// one byte at a time; n-grams are a few bytes, where a table beats the wide kernels' set-up.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut value = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 1 == 1 {
                0xEDB8_8320 ^ (value >> 1)
            } else {
                value >> 1
            };
            bit += 1;
        }
        table[byte] = value;
        byte += 1;
    }
    table
};

/// Feeds `bytes` to a CRC-32 state (start from `!0`; the checksum is `!state`).
fn crc32_update(state: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(state, |state, &byte| {
        CRC32_TABLE[((state ^ u32::from(byte)) & 0xff) as usize] ^ (state >> 8)
    })
}

/// A text's features as the model takes them: each distinct bucket once, weighted by its share
/// of the text's features (the mean of the feature vectors, with fewer rows to gather).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bag {
    pub ids: Vec<i64>,
    pub weights: Vec<f32>,
}

impl Bag {
    /// Counts `ids` into a bag; `counts` is scratch of one slot per bucket, all zero before
    /// and after.
    pub fn of(ids: &[i64], counts: &mut [u32]) -> Bag {
        let mut bag = Bag::default();
        for &id in ids {
            let count = &mut counts[id as usize];
            if *count == 0 {
                bag.ids.push(id);
            }
            *count += 1;
        }
        let total = ids.len() as f32;
        bag.weights = bag
            .ids
            .iter()
            .map(|&id| {
                let count = std::mem::take(&mut counts[id as usize]);
                count as f32 / total
            })
            .collect();
        bag
    }
}

pub struct HashedModel {
    id: String,
    threshold: f32,
    description: String,
    features: HashedFeatures,
    /// For each model output column, its position in [`DETOXIFY_KEYS`].
    columns: Vec<usize>,
    sessions: Pool<Session>,
}

/// The id of the hashed model `config` names with these bytes: its name and a digest of the
/// model and the feature settings.
pub(crate) fn model_id(config: &ModelConfig, model_bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model_bytes);
    hasher.update(format!("{:?}|{:?}", config.labels, config.hashed));
    format!("hashed:{}:{}", config.name, hex_prefix(&hasher.finalize()))
}

impl HashedModel {
    pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<HashedModel> {
        runtime::check_device(device)?;
        let columns = config
            .labels
            .iter()
            .map(|label| {
                key_index(label)
                    .with_context(|| format!("label {label:?} is not a Detoxify key ({})", DETOXIFY_KEYS.join(", ")))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let bytes = config.model_bytes()?;
        let id = model_id(config, &bytes);
        let sessions = (0..config.thread_count().max(1))
            .map(|_| runtime::session(&config.name, &bytes, device, 1))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = sessions[0].inputs().iter().map(|input| input.name()).collect();
        if names != ["ids", "weights"] {
            bail!(
                "the hashed model {} takes {names:?}; expected `ids` and `weights`",
                config.name
            );
        }
        let model = HashedModel {
            description: format!(
                "hashed model {} ({}) on {device}, {} sessions, {} buckets, char {}-{}-grams",
                config.name,
                id.rsplit(':').next().unwrap_or_default(),
                sessions.len(),
                config.hashed.buckets,
                config.hashed.min_n,
                config.hashed.max_n
            ),
            id,
            threshold: config.toxic_threshold,
            features: config.hashed,
            columns,
            sessions: Pool::new(sessions),
        };
        // A model whose outputs do not fit the labels fails here, not on the first job.
        model
            .score(&["start-up check"], &mut ScoreStats::default())
            .with_context(|| format!("the hashed model {} cannot score a text", config.name))?;
        Ok(model)
    }

    /// Runs one batch: bags of feature buckets, padded to the widest.
    fn run(&self, rows: &[&Bag]) -> anyhow::Result<Vec<Scores>> {
        let width = rows.iter().map(|bag| bag.ids.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; rows.len() * width];
        let mut weights = vec![0f32; rows.len() * width];
        for (row, bag) in rows.iter().enumerate() {
            ids[row * width..row * width + bag.ids.len()].copy_from_slice(&bag.ids);
            weights[row * width..row * width + bag.weights.len()].copy_from_slice(&bag.weights);
        }
        let shape = vec![rows.len() as i64, width as i64];
        let ids = Tensor::from_array((shape.clone(), ids))
            .map_err(|error| anyhow!("cannot build the model input: {error}"))?;
        let weights =
            Tensor::from_array((shape, weights)).map_err(|error| anyhow!("cannot build the model input: {error}"))?;
        let mut session = self.sessions.take();
        let inputs: Vec<(std::borrow::Cow<'static, str>, ort::session::SessionInputValue<'_>)> =
            vec![("ids".into(), ids.into()), ("weights".into(), weights.into())];
        let outputs = session
            .run(inputs)
            .map_err(|error| anyhow!("the hashed model failed: {error}"))?;
        let (shape, values) = outputs["scores"]
            .try_extract_tensor::<f32>()
            .map_err(|error| anyhow!("reading the model output: {error}"))?;
        let labels = self.columns.len();
        if shape.len() != 2 || shape[0] as usize != rows.len() || shape[1] as usize != labels {
            bail!(
                "the hashed model returned shape {shape:?} for {} texts and {labels} labels",
                rows.len()
            );
        }
        Ok(values
            .chunks_exact(labels)
            .map(|row| {
                let mut scores: Scores = [None; 7];
                for (&column, &value) in self.columns.iter().zip(row) {
                    scores[column] = Some(value);
                }
                scores
            })
            .collect())
    }
}

impl ToxicityModel for HashedModel {
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
        let parallel = self.sessions.len() > 1 && texts.len() > 64;
        let buckets = self.features.buckets as usize;
        let bags = |chunk: &[&str]| {
            let mut ids = Vec::new();
            let mut counts = vec![0u32; buckets];
            chunk
                .iter()
                .map(|text| {
                    self.features.ids(text, &mut ids);
                    Bag::of(&ids, &mut counts)
                })
                .collect::<Vec<Bag>>()
        };
        let rows: Vec<Bag> = if parallel {
            texts.par_chunks(256).flat_map_iter(bags).collect()
        } else {
            bags(texts)
        };
        let widths: Vec<usize> = rows.iter().map(|bag| bag.ids.len()).collect();
        let batches = crate::batches_by_width(&widths, MAX_ROWS, MAX_CELLS);
        let run = |batch: &Vec<usize>| {
            let selected: Vec<&Bag> = batch.iter().map(|&row| &rows[row]).collect();
            self.run(&selected)
        };
        let results: Vec<Vec<Scores>> = if parallel {
            batches.par_iter().map(run).collect::<anyhow::Result<_>>()?
        } else {
            batches.iter().map(run).collect::<anyhow::Result<_>>()?
        };
        let mut scores = vec![[None; 7]; texts.len()];
        for (batch, values) in batches.iter().zip(results) {
            for (&row, value) in batch.iter().zip(values) {
                scores[row] = value;
            }
        }
        stats.texts += texts.len() as u64;
        stats.windows += texts.len() as u64;
        stats.batches += batches.len() as u64;
        Ok(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bag_holds_each_bucket_once_weighted_by_its_share_and_leaves_the_scratch_clean() {
        let mut counts = vec![0u32; 8];
        let bag = Bag::of(&[5, 3, 5, 5], &mut counts);
        assert_eq!(bag.ids, [5, 3]);
        assert_eq!(bag.weights, [0.75, 0.25]);
        assert!(counts.iter().all(|&count| count == 0));
        assert_eq!(Bag::of(&[], &mut counts), Bag::default());
    }

    #[test]
    fn the_table_crc_is_zlibs_crc32() {
        // zlib.crc32(b"123456789") and zlib.crc32(b"w<ab>") from Python.
        assert_eq!(!crc32_update(!0, b"123456789"), 0xCBF4_3926);
        assert_eq!(
            !crc32_update(crc32_update(!0, b"w<a"), b"b>"),
            !crc32_update(!0, b"w<ab>")
        );
    }
}
