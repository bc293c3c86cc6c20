//! The default model: TF-IDF features and a calibrated linear SVM converted from
//! `alt-profanity-check` (`infra/models/profanity_check`). Two equivalent ONNX forms run here:
//!
//! - the **sparse form** (`model-sparse.onnx`, the default): inputs `tokens` (each text's distinct
//!   tokens, string [N, K]) and `counts` (float [N, K]); the vocabulary lookup, TF-IDF, L2
//!   normalisation, the five SVMs and their calibration all run in the graph. Tokens are found
//!   here with the model's pattern `[\p{L}\p{N}\p{M}_]{2,}` on the lowercased text.
//! - the **text form** (`model.onnx`, skl2onnx's own graph): one string input [N]; ONNX
//!   Runtime's Tokenizer op finds the tokens. About 3.5 times slower.
//!
//! Lowercasing is always done here, with Rust's full Unicode lowercase, because the in-graph
//! lowercaser depends on the machine's locales.

use std::collections::HashMap;
use std::sync::LazyLock;

use anyhow::{anyhow, bail, Context};
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use ::transformer::pool::Pool;
use ::transformer::{runtime, Device};

use crate::config::ModelConfig;
use crate::{ScoreStats, Scores, ToxicityModel, TOXICITY};

/// Texts per model run at most.
const MAX_ROWS: usize = 512;
/// Token cells (rows × widest row) per model run of the sparse form.
const MAX_CELLS: usize = 64 * 1024;

/// The characters of the model's token pattern `[\p{L}\p{N}\p{M}_]{2,}` (scikit-learn's
/// `token_pattern`, made Unicode-aware): a token is a run of two or more of them.
const TOKEN_CLASS: &str = r"[\p{L}\p{N}\p{M}_]";

/// Membership in [`TOKEN_CLASS`]: a table for the Basic Multilingual Plane, ranges beyond.
struct TokenChars {
    basic: Vec<u64>,
    ranges: Vec<(u32, u32)>,
}

static TOKEN_CHARS: LazyLock<TokenChars> = LazyLock::new(|| {
    let hir = regex_syntax::parse(TOKEN_CLASS).expect("valid class");
    let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) = hir.kind() else {
        unreachable!("a Unicode class")
    };
    let ranges: Vec<(u32, u32)> = class
        .iter()
        .map(|range| (range.start() as u32, range.end() as u32))
        .collect();
    let mut basic = vec![0u64; 0x10000 / 64];
    for &(start, end) in &ranges {
        for code in start..=end.min(0xFFFF) {
            basic[code as usize / 64] |= 1 << (code % 64);
        }
    }
    TokenChars { basic, ranges }
});

impl TokenChars {
    #[inline]
    fn contains(&self, character: char) -> bool {
        let code = character as u32;
        if code < 0x10000 {
            self.basic[code as usize / 64] & (1 << (code % 64)) != 0
        } else {
            self.ranges
                .binary_search_by(|&(start, end)| {
                    if end < code {
                        std::cmp::Ordering::Less
                    } else if start > code {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
        }
    }
}

/// The tokens of a lowercased text, as `[\p{L}\p{N}\p{M}_]{2,}` finds them.
pub fn tokens(lowered: &str) -> impl Iterator<Item = &str> {
    let chars = &*TOKEN_CHARS;
    let mut rest = lowered.char_indices().peekable();
    std::iter::from_fn(move || loop {
        let (start, first) = rest.next()?;
        if !chars.contains(first) {
            continue;
        }
        let mut end = start + first.len_utf8();
        let mut length = 1;
        while let Some(&(index, character)) = rest.peek() {
            if !chars.contains(character) {
                break;
            }
            end = index + character.len_utf8();
            length += 1;
            rest.next();
        }
        if length >= 2 {
            return Some(&lowered[start..end]);
        }
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    /// One string tensor of whole texts, [N] or [N, 1].
    Text { name: String, rank: usize },
    /// `tokens` string [N, K] and `counts` float [N, K].
    Tokens,
}

pub struct LinearModel {
    id: String,
    threshold: f32,
    description: String,
    sessions: Pool<Session>,
    input: Input,
    output: String,
}

/// The text the model sees: lowercased, with NUL (which ONNX strings cannot hold) as a space.
pub fn prepare(text: &str) -> String {
    let lowered = text.to_lowercase();
    if lowered.contains('\0') {
        lowered.replace('\0', " ")
    } else {
        lowered
    }
}

/// A fast hasher for token strings (the map lives for one text; no untrusted keys persist).
#[derive(Default, Clone, Copy)]
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut hash = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail) ^ bytes.len() as u64).wrapping_mul(K);
        self.0 = hash;
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0.rotate_left(5) ^ byte as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type TokenMap<'a> = HashMap<&'a str, usize, std::hash::BuildHasherDefault<TokenHasher>>;

/// Distinct tokens of a lowercased text with their counts, in order of first occurrence.
pub fn token_counts(lowered: &str) -> Vec<(&str, f32)> {
    let mut positions = TokenMap::with_capacity_and_hasher(64, Default::default());
    let mut counts: Vec<(&str, f32)> = Vec::new();
    for token in tokens(lowered) {
        match positions.get(token) {
            Some(&position) => counts[position].1 += 1.0,
            None => {
                positions.insert(token, counts.len());
                counts.push((token, 1.0));
            }
        }
    }
    counts
}

fn input_kind(name: &str, session: &Session) -> anyhow::Result<Input> {
    let is_string = |dtype: &ValueType| dtype.tensor_type() == Some(TensorElementType::String);
    match session.inputs() {
        [input] if is_string(input.dtype()) => match input.dtype().tensor_shape().map(|shape| shape.len()) {
            Some(rank @ (1 | 2)) => Ok(Input::Text {
                name: input.name().to_string(),
                rank,
            }),
            other => bail!("the linear model {name} takes strings of rank {other:?}; expected [N] or [N, 1]"),
        },
        [first, second]
            if first.name() == "tokens"
                && is_string(first.dtype())
                && second.name() == "counts"
                && second.dtype().tensor_type() == Some(TensorElementType::Float32) =>
        {
            Ok(Input::Tokens)
        }
        inputs => bail!(
            "the linear model {name} takes {:?}; expected one string input (texts) or `tokens` and `counts`",
            inputs.iter().map(|input| input.name()).collect::<Vec<_>>()
        ),
    }
}

impl LinearModel {
    pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<LinearModel> {
        runtime::check_device(device)?;
        let bytes = config.model_bytes()?;
        let id = model_id(config, &bytes);
        let digest = id.rsplit(':').next().unwrap_or_default().to_string();
        let sessions = (0..config.thread_count().max(1))
            .map(|_| runtime::session(&config.name, &bytes, device, 1))
            .collect::<Result<Vec<_>, _>>()?;
        let input = input_kind(&config.name, &sessions[0])?;
        let output = sessions[0]
            .outputs()
            .iter()
            .find(|output| {
                matches!(output.dtype(), ValueType::Tensor { ty: TensorElementType::Float32, shape, .. }
                    if shape.len() == 2 && shape[1] == 2)
            })
            .map(|output| output.name().to_string())
            .with_context(|| {
                format!(
                    "the linear model {} has no float probability output [N, 2] (convert it with zipmap off)",
                    config.name
                )
            })?;
        let form = match input {
            Input::Text { .. } => "text input",
            Input::Tokens => "sparse token input",
        };
        let model = LinearModel {
            id,
            threshold: config.toxic_threshold,
            description: format!(
                "linear model {} ({digest}, {form}) on {device}, {} sessions",
                config.name,
                sessions.len()
            ),
            sessions: Pool::new(sessions),
            input,
            output,
        };
        // A model that loads but cannot run fails at start-up, not on the first job.
        model
            .score(&["start-up check"], &mut ScoreStats::default())
            .with_context(|| format!("the linear model {} cannot score a text", config.name))?;
        Ok(model)
    }

    /// Runs one batch of inputs; returns the probability of the toxic class per row.
    fn run(
        &self,
        inputs: Vec<(std::borrow::Cow<'static, str>, SessionInputValue<'_>)>,
        rows: usize,
    ) -> anyhow::Result<Vec<f32>> {
        let mut session = self.sessions.take();
        let outputs = session
            .run(inputs)
            .map_err(|error| anyhow!("the linear model failed: {error}"))?;
        let (shape, values) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|error| anyhow!("reading the model output: {error}"))?;
        if shape.len() != 2 || shape[0] as usize != rows || shape[1] != 2 {
            bail!("the linear model returned shape {shape:?} for {rows} texts");
        }
        Ok(values.chunks_exact(2).map(|pair| pair[1]).collect())
    }

    fn run_texts(&self, name: &str, rank: usize, texts: &[&str]) -> anyhow::Result<Vec<f32>> {
        let prepared: Vec<String> = texts.iter().map(|text| prepare(text)).collect();
        let shape = if rank == 1 {
            vec![prepared.len() as i64]
        } else {
            vec![prepared.len() as i64, 1]
        };
        let tensor = Tensor::from_string_array((shape, prepared.as_slice()))
            .map_err(|error| anyhow!("cannot build the model input: {error}"))?;
        self.run(vec![(name.to_string().into(), tensor.into())], texts.len())
    }

    fn run_tokens(&self, rows: &[&[(&str, f32)]]) -> anyhow::Result<Vec<f32>> {
        let width = rows.iter().map(|row| row.len()).max().unwrap_or(0).max(1);
        // ONNX Runtime copies the strings at once; `String` only because tensor data must be 'static.
        let mut tokens: Vec<String> = vec![String::new(); rows.len() * width];
        let mut counts = vec![0f32; rows.len() * width];
        for (row, pairs) in rows.iter().enumerate() {
            for (column, (token, count)) in pairs.iter().enumerate() {
                tokens[row * width + column] = (*token).to_string();
                counts[row * width + column] = *count;
            }
        }
        let shape = vec![rows.len() as i64, width as i64];
        let tokens = Tensor::from_string_array((shape.clone(), tokens.as_slice()))
            .map_err(|error| anyhow!("cannot build the model input: {error}"))?;
        let counts =
            Tensor::from_array((shape, counts)).map_err(|error| anyhow!("cannot build the model input: {error}"))?;
        self.run(
            vec![("tokens".into(), tokens.into()), ("counts".into(), counts.into())],
            rows.len(),
        )
    }

    fn probabilities(&self, texts: &[&str], stats: &mut ScoreStats) -> anyhow::Result<Vec<f32>> {
        let parallel = self.sessions.len() > 1 && texts.len() > MAX_ROWS;
        match &self.input {
            Input::Text { name, rank } => {
                let chunks: Vec<&[&str]> = texts.chunks(MAX_ROWS).collect();
                stats.batches += chunks.len() as u64;
                let run = |chunk: &&[&str]| self.run_texts(name, *rank, chunk);
                let results: Vec<Vec<f32>> = if parallel {
                    chunks.par_iter().map(run).collect::<anyhow::Result<_>>()?
                } else {
                    chunks.iter().map(run).collect::<anyhow::Result<_>>()?
                };
                Ok(results.into_iter().flatten().collect())
            }
            Input::Tokens => {
                let lowered: Vec<String> = if parallel {
                    texts.par_iter().map(|text| prepare(text)).collect()
                } else {
                    texts.iter().map(|text| prepare(text)).collect()
                };
                let rows: Vec<Vec<(&str, f32)>> = if parallel {
                    lowered.par_iter().map(|text| token_counts(text)).collect()
                } else {
                    lowered.iter().map(|text| token_counts(text)).collect()
                };
                let widths: Vec<usize> = rows.iter().map(Vec::len).collect();
                let batches = crate::batches_by_width(&widths, MAX_ROWS, MAX_CELLS);
                stats.batches += batches.len() as u64;
                let run = |batch: &Vec<usize>| {
                    let selected: Vec<&[(&str, f32)]> = batch.iter().map(|&row| rows[row].as_slice()).collect();
                    self.run_tokens(&selected)
                };
                let results: Vec<Vec<f32>> = if parallel {
                    batches.par_iter().map(run).collect::<anyhow::Result<_>>()?
                } else {
                    batches.iter().map(run).collect::<anyhow::Result<_>>()?
                };
                let mut probabilities = vec![0f32; texts.len()];
                for (batch, values) in batches.iter().zip(results) {
                    for (&row, value) in batch.iter().zip(values) {
                        probabilities[row] = value;
                    }
                }
                Ok(probabilities)
            }
        }
    }
}

/// The id of the linear model `config` names with these bytes: its name and a digest of them.
pub(crate) fn model_id(config: &ModelConfig, model_bytes: &[u8]) -> String {
    format!("linear:{}:{}", config.name, hex_prefix(&Sha256::digest(model_bytes)))
}

pub(crate) fn hex_prefix(digest: &[u8]) -> String {
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

impl ToxicityModel for LinearModel {
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
        let probabilities = self.probabilities(texts, stats)?;
        stats.texts += texts.len() as u64;
        stats.windows += texts.len() as u64;
        Ok(probabilities
            .into_iter()
            .map(|probability| {
                let mut row: Scores = [None; 7];
                row[TOXICITY] = Some(probability);
                row
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_unicode_pattern_and_are_counted() {
        let lowered = prepare("Hi, YOU idiot! you... a_b Straße ΟΔΟΣ 42 x");
        let counts = token_counts(&lowered);
        assert_eq!(
            counts,
            vec![
                ("hi", 1.0),
                ("you", 2.0),
                ("idiot", 1.0),
                ("a_b", 1.0),
                ("straße", 1.0),
                ("οδος", 1.0),
                ("42", 1.0)
            ]
        );
        assert_eq!(prepare("a\0b"), "a b");
        // The scanner finds exactly what the pattern finds, on every kind of character.
        let pattern = regex::Regex::new(r"[\p{L}\p{N}\p{M}_]{2,}").unwrap();
        let sample: String = (0u32..0x3_0000)
            .step_by(7)
            .filter_map(char::from_u32)
            .chain("ab c_d 𝔘𝔫𝔦 १२ é".chars())
            .collect();
        let expected: Vec<&str> = pattern.find_iter(&sample).map(|found| found.as_str()).collect();
        assert_eq!(tokens(&sample).collect::<Vec<_>>(), expected);
    }
}
