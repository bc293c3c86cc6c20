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
//! The ONNX Runtime library and sessions come from [`toxicity::runtime`], which owns the one
//! environment a process may create.
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
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};
use serde::Deserialize;
use tokenizers::Tokenizer;
use toxicity::pool::Pool;
use toxicity::transformer::window_starts;
use toxicity::{runtime, Device};

use crate::{EntityType, Span};

const INPUT_IDS: &str = "input_ids";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";

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
        if self.max_length < 8 {
            bail!("max_length {} is too small (at least 8)", self.max_length);
        }
        if self.stride * 2 >= self.max_length {
            bail!(
                "stride {} must be under half of max_length {}",
                self.stride,
                self.max_length
            );
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            bail!("min_score {} is not between 0 and 1", self.min_score);
        }
        if self.batch_tokens < self.max_length {
            bail!(
                "batch_tokens {} must hold one window of max_length {}",
                self.batch_tokens,
                self.max_length
            );
        }
        if self.max_batch == 0 {
            bail!("max_batch must be at least 1");
        }
        Ok(())
    }

    fn tags(&self) -> Vec<Tag> {
        self.labels
            .iter()
            .map(|label| parse_tag(label, &self.entities))
            .collect()
    }

    fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// What one output label means for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// `O`, or a class with no entity type.
    Outside,
    /// Starts an entity even right after one of the same type.
    Begin(EntityType),
    /// Continues an entity of the same type, or starts one.
    Inside(EntityType),
}

/// `B-PER`, `I-PER`, `PER` (IO), and the BIOES / BILOU prefixes (`S`/`U` begin, `E`/`L` continue).
fn parse_tag(label: &str, entities: &BTreeMap<String, EntityType>) -> Tag {
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

/// A loaded token classifier. Detection is safe from several threads at once (runs of the model
/// take turns on one session).
pub struct NerModel {
    description: String,
    tokenizer: Tokenizer,
    /// Special tokens the template puts before and after a text ([CLS] / [SEP], <s> / </s>).
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    pad_id: u32,
    /// Content tokens per window, and the distance between window starts.
    window: usize,
    step: usize,
    tags: Vec<Tag>,
    min_score: f32,
    batch_tokens: usize,
    max_batch: usize,
    session: Pool<Session>,
    attention_mask: bool,
    token_type_ids: bool,
    output: String,
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
        let tokenizer_bytes = std::fs::read(&config.tokenizer)
            .with_context(|| format!("reading the tokenizer {}", config.tokenizer.display()))?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|error| anyhow!("the tokenizer {} cannot be read: {error}", config.tokenizer.display()))?;
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
            .map_err(|error| anyhow!("the tokenizer {}: {error}", config.tokenizer.display()))?;
        tokenizer.with_padding(None);
        let probe = tokenizer
            .encode("a", true)
            .map_err(|error| anyhow!("the tokenizer {} cannot encode: {error}", config.tokenizer.display()))?;
        let special = probe.get_special_tokens_mask();
        let first_content = special.iter().position(|&flag| flag == 0).unwrap_or(special.len());
        let last_content = special
            .iter()
            .rposition(|&flag| flag == 0)
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

        let model_bytes = std::fs::read(&config.model)
            .with_context(|| format!("reading the ner model {}", config.model.display()))?;
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
                        "the model {} takes an input {other:?}; a token classifier may take only input_ids, \
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
            .with_context(|| format!("the model {} has no outputs", config.name))?;
        match output.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 3 => {}
            other => bail!(
                "the model {} output {} is {other:?}; expected float32 logits [batch, sequence, labels] \
                 (a token classifier; export float16 models with float32 outputs)",
                config.name,
                output.name()
            ),
        }
        let output = output.name().to_string();

        let model = NerModel {
            description: format!(
                "ner {} on {device}: window {} tokens, stride {}, {} labels, min score {}",
                config.name,
                config.max_length,
                config.stride,
                config.labels.len(),
                config.min_score
            ),
            tokenizer,
            prefix,
            suffix,
            pad_id,
            window,
            step,
            tags: config.tags(),
            min_score: config.min_score,
            batch_tokens: config.batch_tokens,
            max_batch: config.max_batch,
            session: Pool::new(vec![session]),
            attention_mask,
            token_type_ids,
            output,
        };
        model.check_fit(config)?;
        Ok(model)
    }

    /// Runs the tokenizer's highest id, then a full window, through the model: a tokenizer made
    /// for another model, a label list of the wrong length or a max_length beyond the model's
    /// positions fails here rather than on the first long text.
    fn check_fit(&self, config: &NerConfig) -> anyhow::Result<()> {
        let highest = self.tokenizer.get_vocab_size(true).saturating_sub(1) as u32;
        let logits = self.run(&[&[highest]]).map_err(|error| {
            anyhow!(
                "the tokenizer does not fit the model {}: a text with the tokenizer's highest id {highest} \
                 cannot be run ({error:#})",
                config.name
            )
        })?;
        let width = self.prefix.len() + 1 + self.suffix.len();
        let per_token = logits.len() / width;
        if per_token != self.tags.len() {
            bail!(
                "the label list has {} labels but the model {} returns {per_token} scores per token",
                self.tags.len(),
                config.name
            );
        }
        let filler = self.tokenizer.token_to_id("a").unwrap_or(self.pad_id);
        let full = vec![filler; self.window];
        self.run(&[&full]).map_err(|error| {
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
        if begin < windows.len() {
            groups.push(begin..windows.len());
        }

        let labels = self.tags.len();
        let mut probabilities: Vec<Vec<f32>> = encoded
            .iter()
            .map(|encoding| vec![0.0; encoding.ids.len() * labels])
            .collect();
        for group in groups {
            let group = &windows[group];
            let rows: Vec<&[u32]> = group
                .iter()
                .map(|window| &encoded[window.text].ids[window.start..window.start + window.len])
                .collect();
            let logits = self.run(&rows)?;
            let width = group.iter().map(|window| window.len).max().unwrap_or(0) + specials;
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
                    let at = (row * width + self.prefix.len() + column) * labels;
                    let target = &mut probabilities[window.text][token * labels..(token + 1) * labels];
                    softmax(&logits[at..at + labels], target);
                }
            }
        }

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
            .tokenizer
            .encode(text, false)
            .map_err(|error| anyhow!("tokenizing a text: {error}"))?;
        let ids = encoding.get_ids().to_vec();
        let windows: Vec<(usize, usize)> = if ids.is_empty() {
            Vec::new()
        } else {
            window_starts(ids.len(), self.window, self.step)
                .into_iter()
                .map(|start| (start, (ids.len() - start).min(self.window)))
                .collect()
        };
        Ok(Encoded {
            owners: owners(&windows, ids.len()),
            ids,
            offsets: encoding.get_offsets().to_vec(),
            words: encoding.get_word_ids().to_vec(),
            windows,
        })
    }

    /// Runs windows of content tokens (special tokens added here, padded to the longest);
    /// returns the logits, row-major [rows, width, labels].
    fn run(&self, rows: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
        let width = rows.iter().map(|row| row.len()).max().unwrap_or(0) + self.prefix.len() + self.suffix.len();
        let mut ids = vec![self.pad_id as i64; rows.len() * width];
        let mut mask = vec![0i64; rows.len() * width];
        for (row, content) in rows.iter().enumerate() {
            let sequence = self.prefix.iter().chain(content.iter()).chain(self.suffix.iter());
            for (column, &id) in sequence.enumerate() {
                ids[row * width + column] = i64::from(id);
                mask[row * width + column] = 1;
            }
        }
        let shape = vec![rows.len() as i64, width as i64];
        let tensor = |values: Vec<i64>| {
            Tensor::from_array((shape.clone(), values)).map_err(|error| anyhow!("cannot build a model input: {error}"))
        };
        let mut inputs = ort::inputs![INPUT_IDS => tensor(ids)?];
        if self.attention_mask {
            inputs.push((ATTENTION_MASK.into(), tensor(mask)?.into()));
        }
        if self.token_type_ids {
            inputs.push((TOKEN_TYPE_IDS.into(), tensor(vec![0i64; rows.len() * width])?.into()));
        }
        let mut session = self.session.take();
        let outputs = session
            .run(inputs)
            .map_err(|error| anyhow!("the model failed on a batch of {}: {error}", rows.len()))?;
        let (shape, logits) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|error| anyhow!("reading the model's logits: {error}"))?;
        if shape.len() != 3 || shape[0] != rows.len() as i64 || shape[1] != width as i64 {
            bail!(
                "the model returned logits of shape {shape:?} for {} windows of {width} tokens; expected \
                 [batch, sequence, labels]",
                rows.len()
            );
        }
        Ok(logits.to_vec())
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
