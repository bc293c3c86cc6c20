//! The tokenizer and its template: the special tokens around a text, the padding id, and the
//! window of content tokens that fits `max_length`.

use std::path::Path;

use ort::value::Tensor;
use tokenizers::Tokenizer;

use crate::{window_starts, Error, Result};

/// A tokenizer set up for windowed model inputs: no truncation and no padding (texts are
/// windowed and batches padded here), with the special tokens its template adds found by
/// encoding a probe text.
pub struct Encoder {
    tokenizer: Tokenizer,
    /// Special tokens the template puts before and after a text ([CLS] / [SEP], <s> / </s>).
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    pad_id: u32,
    /// Content tokens per window, and the distance between window starts.
    window: usize,
    step: usize,
}

/// One model run's inputs: ids, attention mask and token type ids, `[rows, width]`, padded to
/// the longest row. Built off the model's thread.
pub struct Inputs {
    pub(crate) ids: Tensor<i64>,
    pub(crate) mask: Tensor<i64>,
    pub(crate) types: Tensor<i64>,
    rows: usize,
    width: usize,
    tokens: u64,
}

impl Inputs {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Positions per row, special tokens and padding included.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Tokens fed to the model, special tokens included, padding excluded.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

impl Encoder {
    /// Reads the tokenizer at `path` for windows of `max_length` tokens (special tokens
    /// included) that share `stride` tokens.
    pub fn load(path: &Path, max_length: usize, stride: usize) -> Result<Encoder> {
        Encoder::from_bytes(&Encoder::read(path)?, path, max_length, stride)
    }

    /// The bytes of the tokenizer file at `path` (for callers that also hash them).
    pub fn read(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|source| Error::ReadTokenizer {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`Encoder::load`] from the bytes of a `tokenizer.json`; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, max_length: usize, stride: usize) -> Result<Encoder> {
        let mut tokenizer = Tokenizer::from_bytes(bytes)
            .map_err(|error| Error::Tokenizer(format!("the tokenizer {} cannot be read: {error}", path.display())))?;
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
            .map_err(|error| Error::Tokenizer(format!("the tokenizer {}: {error}", path.display())))?;
        tokenizer.with_padding(None);
        let probe = tokenizer
            .encode("a", true)
            .map_err(|error| Error::Tokenizer(format!("the tokenizer {} cannot encode: {error}", path.display())))?;
        let special = probe.get_special_tokens_mask();
        let first_content = special.iter().position(|&flag| flag == 0).unwrap_or(special.len());
        let last_content = special
            .iter()
            .rposition(|&flag| flag == 0)
            .map_or(first_content, |last| last + 1);
        let prefix = probe.get_ids()[..first_content].to_vec();
        let suffix = probe.get_ids()[last_content..].to_vec();
        let specials = prefix.len() + suffix.len();
        if max_length <= specials + 2 * stride {
            return Err(Error::NoRoom {
                max_length,
                specials,
                stride,
            });
        }
        let window = max_length - specials;
        Ok(Encoder {
            tokenizer,
            prefix,
            suffix,
            pad_id,
            window,
            step: window - stride,
        })
    }

    /// The tokenizer, without truncation or padding.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The special tokens before a text's content.
    pub fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    /// The special tokens after a text's content.
    pub fn suffix(&self) -> &[u32] {
        &self.suffix
    }

    /// Special tokens per window: prefix and suffix.
    pub fn specials(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Content tokens per window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The distance between window starts.
    pub fn step(&self) -> usize {
        self.step
    }

    /// A text's token ids, without special tokens.
    pub fn encode_ids(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|error| Error::Tokenizer(format!("tokenizing a text: {error}")))
    }

    /// The windows (start, content tokens) of a text of `tokens` content tokens; see
    /// [`window_starts`]. An empty text has one empty window.
    pub fn windows(&self, tokens: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        window_starts(tokens, self.window, self.step)
            .into_iter()
            .map(move |start| (start, (tokens - start).min(self.window)))
    }

    /// The model inputs for `rows` of content tokens: the template's special tokens added,
    /// padded with the pad id (mask 0) to the longest row, token type ids all 0.
    pub fn inputs(&self, rows: &[&[u32]]) -> Result<Inputs> {
        let width = rows.iter().map(|row| row.len()).max().unwrap_or(0) + self.specials();
        let count = rows.len();
        let mut ids = vec![i64::from(self.pad_id); count * width];
        let mut mask = vec![0i64; count * width];
        let mut tokens = 0u64;
        for (row, content) in rows.iter().enumerate() {
            let sequence = self.prefix.iter().chain(content.iter()).chain(self.suffix.iter());
            let mut length = 0;
            for (column, &id) in sequence.enumerate() {
                ids[row * width + column] = i64::from(id);
                mask[row * width + column] = 1;
                length += 1;
            }
            tokens += length;
        }
        let shape = vec![count as i64, width as i64];
        let tensor = |values: Vec<i64>| {
            Tensor::from_array((shape.clone(), values))
                .map_err(|error| Error::Run(format!("cannot build a model input: {error}")))
        };
        Ok(Inputs {
            ids: tensor(ids)?,
            mask: tensor(mask)?,
            types: tensor(vec![0i64; count * width])?,
            rows: count,
            width,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn tiny_tokenizer() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/toxicity/tiny-bert/tokenizer.json")
    }

    #[test]
    fn the_template_and_window_come_from_the_tokenizer_and_max_length() {
        let encoder = Encoder::load(&tiny_tokenizer(), 64, 16).unwrap();
        // [CLS] 2 ... [SEP] 3, [PAD] 0.
        assert_eq!(
            (encoder.prefix(), encoder.suffix(), encoder.pad_id()),
            (&[2][..], &[3][..], 0)
        );
        assert_eq!((encoder.window(), encoder.step()), (62, 46));
        assert_eq!(
            encoder.windows(200).collect::<Vec<_>>(),
            vec![(0, 62), (46, 62), (92, 62), (138, 62)]
        );
        assert_eq!(encoder.windows(0).collect::<Vec<_>>(), vec![(0, 0)]);
        assert!(encoder.encode_ids("hello").unwrap().iter().all(|id| *id > 4));

        // Tensors need the ONNX Runtime library.
        crate::runtime::environment().unwrap();
        let inputs = encoder.inputs(&[&[7, 8, 9], &[7]]).unwrap();
        assert_eq!((inputs.rows(), inputs.width(), inputs.tokens()), (2, 5, 8));
        let (_, ids) = inputs.ids.extract_tensor();
        assert_eq!(ids, &[2, 7, 8, 9, 3, 2, 7, 3, 0, 0]);
        let (_, mask) = inputs.mask.extract_tensor();
        assert_eq!(mask, &[1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn settings_and_files_that_cannot_work_say_why() {
        let error = Encoder::load(&tiny_tokenizer(), 34, 16).err().unwrap().to_string();
        assert_eq!(
            error,
            "max_length 34 leaves no room for text after 2 special tokens and a stride of 16"
        );
        let missing = Path::new("/nowhere/tokenizer.json");
        let error = Encoder::load(missing, 64, 16).err().unwrap();
        assert_eq!(error.to_string(), "reading the tokenizer /nowhere/tokenizer.json");
        assert!(std::error::Error::source(&error).is_some());
        let error = Encoder::from_bytes(b"{}", missing, 64, 16).err().unwrap().to_string();
        assert!(
            error.starts_with("the tokenizer /nowhere/tokenizer.json cannot be read"),
            "{error}"
        );
    }
}
