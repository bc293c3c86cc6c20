//! The transformer runtime shared by the toxicity classifiers (`toxicity::transformer`,
//! sequence classification) and the PII NER model (`pii::ner`, token classification): the
//! ONNX Runtime library and the process's one environment ([`runtime`]), sessions shared by
//! threads ([`pool`]), the tokenizer with its special-token template and window sizes
//! ([`Encoder`]), the model's inputs and output ([`Runner`]), and the batching of windows:
//! similar lengths together, bounded by a window count and a padded-token budget
//! ([`plan_batches`]), run with the next batch's tensors built on a second thread while the
//! model runs the current one ([`Runner::run_batches`]).
//!
//! What a model's outputs mean (sigmoid scores per text, softmax labels per token) is left to
//! the callers.

mod device;
mod encoder;
pub mod pool;
mod runner;
pub mod runtime;

use std::ops::Range;

pub use device::Device;
pub use encoder::{Encoder, Inputs};
pub use runner::{BatchStats, Logits, Runner, Task};

/// What can go wrong loading or running a transformer. The messages name the file or model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tokenizer file cannot be read.
    #[error("reading the tokenizer {}", path.display())]
    ReadTokenizer {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A tokenizer that cannot be parsed, configured or run.
    #[error("{0}")]
    Tokenizer(String),
    /// `max_length` too small for the template's special tokens and the stride.
    #[error(
        "max_length {max_length} leaves no room for text after {specials} special tokens and a stride of {stride}"
    )]
    NoRoom {
        max_length: usize,
        specials: usize,
        stride: usize,
    },
    /// The ONNX Runtime library, its environment, a device or a session.
    #[error("{0}")]
    Runtime(String),
    /// A model whose inputs or output the runner cannot use.
    #[error("{0}")]
    Model(String),
    /// A model run, or logits of an unexpected shape.
    #[error("{0}")]
    Run(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The window settings both classifier configs share: `max_length` tokens per window (special
/// tokens included), `stride` shared by consecutive windows. The first problem, in words.
pub fn check_window_settings(max_length: usize, stride: usize) -> Result<(), String> {
    if max_length < 8 {
        return Err(format!("max_length {max_length} is too small (at least 8)"));
    }
    if stride * 2 >= max_length {
        return Err(format!("stride {stride} must be under half of max_length {max_length}"));
    }
    Ok(())
}

/// The batch settings both classifier configs share: `batch_tokens` padded tokens per model run
/// must hold one window of `max_length`, and a run takes at least one window.
pub fn check_batch_settings(batch_tokens: usize, max_length: usize, max_batch: usize) -> Result<(), String> {
    if batch_tokens < max_length {
        return Err(format!(
            "batch_tokens {batch_tokens} must hold one window of max_length {max_length}"
        ));
    }
    if max_batch == 0 {
        return Err("max_batch must be at least 1".to_string());
    }
    Ok(())
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

/// Splits windows sorted by length (content tokens, `lengths`) into consecutive batches of at
/// most `max_batch` windows whose padded size, rows × (longest + `specials`), stays within
/// `batch_tokens`. A window too long for the budget on its own gets a batch of its own; no
/// batch is empty, and no windows give no batches.
pub fn plan_batches(
    lengths: impl IntoIterator<Item = usize>,
    specials: usize,
    max_batch: usize,
    batch_tokens: usize,
) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut begin = 0;
    let mut count = 0;
    for (index, len) in lengths.into_iter().enumerate() {
        let rows = index + 1 - begin;
        if index > begin && (rows > max_batch || rows * (len + specials) > batch_tokens) {
            groups.push(begin..index);
            begin = index;
        }
        count = index + 1;
    }
    if begin < count {
        groups.push(begin..count);
    }
    groups
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

    #[test]
    fn batches_respect_the_window_count_and_the_padded_token_budget() {
        assert!(plan_batches([], 2, 4, 100).is_empty());
        assert_eq!(plan_batches([5], 2, 4, 100), vec![0..1]);
        // At most 4 rows.
        assert_eq!(plan_batches([1; 10], 2, 4, 1000), vec![0..4, 4..8, 8..10]);
        // Rows × (longest + specials) ≤ 30: 3 rows of 8 fit, a 4th would make 40.
        assert_eq!(plan_batches([8, 8, 8, 8, 8], 2, 64, 30), vec![0..3, 3..5]);
        // A longer window closes the batch when the padded size would overflow.
        assert_eq!(plan_batches([3, 3, 3, 13], 2, 64, 30), vec![0..3, 3..4]);
        // A window over the budget on its own still gets a batch, never an empty one.
        assert_eq!(plan_batches([40, 50], 2, 64, 30), vec![0..1, 1..2]);
        // Every window is in exactly one batch, in order.
        let lengths: Vec<usize> = (0..500).map(|index| index / 7).collect();
        let groups = plan_batches(lengths.iter().copied(), 2, 16, 512);
        assert_eq!(groups.first().unwrap().start, 0);
        assert_eq!(groups.last().unwrap().end, lengths.len());
        for pair in groups.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for group in &groups {
            assert!(!group.is_empty() && group.len() <= 16);
            assert!(group.len() * (lengths[group.end - 1] + 2) <= 512);
        }
    }
}
