//! A transformer classifier's session, the inputs it takes and the output it gives, and the
//! pipelined run of many batches.

use std::ops::Range;
use std::sync::mpsc::sync_channel;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use crate::pool::Pool;
use crate::{plan_batches, runtime, Device, Encoder, Error, Inputs, Result};

/// The inputs a classifier may take; `input_ids` is required.
const INPUT_IDS: &str = "input_ids";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";

/// What the model classifies, and so the shape of its logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A sequence classifier: logits `[batch, labels]`, float32 or float16.
    Sequence,
    /// A token classifier: logits `[batch, sequence, labels]`, float32.
    Token,
}

impl Task {
    /// The rank of the logits.
    pub fn rank(self) -> usize {
        match self {
            Task::Sequence => 2,
            Task::Token => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputType {
    F32,
    F16,
}

/// One batch's logits as float32, row-major: `[rows, labels]` for [`Task::Sequence`],
/// `[rows, width, labels]` for [`Task::Token`].
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    pub rows: usize,
    /// Positions per row of the inputs, special tokens and padding included.
    pub width: usize,
    pub values: Vec<f32>,
}

/// What [`Runner::run_batches`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Model runs.
    pub batches: u64,
    /// Tokens fed to the model, special tokens included, padding excluded.
    pub tokens: u64,
}

/// A loaded classifier: one session (runs take turns on it), the optional inputs it takes, and
/// its logits output. Safe to run from several threads at once.
pub struct Runner {
    session: Pool<Session>,
    attention_mask: bool,
    token_type_ids: bool,
    output: String,
    output_type: OutputType,
    task: Task,
}

impl Runner {
    /// Loads the ONNX model `model` (bytes; `name` names it in errors) on `device`, with
    /// `threads` intra-op threads on CPU (one on CUDA). Its inputs must be int64 `input_ids`
    /// and optionally `attention_mask` and `token_type_ids`; its output `logits` (or the first
    /// output) must have the rank of `task`.
    pub fn load(name: &str, model: &[u8], device: Device, threads: usize, task: Task) -> Result<Runner> {
        let threads = match device {
            Device::Cpu => threads,
            Device::Cuda(_) => 1,
        };
        let session = runtime::session(name, model, device, threads)?;
        let classifier = match task {
            Task::Sequence => "a classifier",
            Task::Token => "a token classifier",
        };
        let mut attention_mask = false;
        let mut token_type_ids = false;
        let mut has_ids = false;
        for input in session.inputs() {
            match (input.name(), input.dtype().tensor_type()) {
                (input, Some(TensorElementType::Int64)) => match input {
                    INPUT_IDS => has_ids = true,
                    ATTENTION_MASK => attention_mask = true,
                    TOKEN_TYPE_IDS => token_type_ids = true,
                    other => {
                        return Err(Error::Model(format!(
                            "the model {name} takes an input {other:?}; {classifier} may take only input_ids, \
                             attention_mask and token_type_ids"
                        )))
                    }
                },
                (input, ty) => {
                    return Err(Error::Model(format!(
                        "the model {name} input {input} is {ty:?}; expected int64"
                    )))
                }
            }
        }
        if !has_ids {
            return Err(Error::Model(format!("the model {name} has no input_ids input")));
        }
        let output = session
            .outputs()
            .iter()
            .find(|output| output.name() == "logits")
            .or_else(|| session.outputs().first())
            .ok_or_else(|| {
                Error::Model(match task {
                    Task::Sequence => "the model has no outputs".to_string(),
                    Task::Token => format!("the model {name} has no outputs"),
                })
            })?;
        let output_type = match (task, output.dtype()) {
            (
                _,
                ValueType::Tensor {
                    ty: TensorElementType::Float32,
                    shape,
                    ..
                },
            ) if shape.len() == task.rank() => OutputType::F32,
            (
                Task::Sequence,
                ValueType::Tensor {
                    ty: TensorElementType::Float16,
                    shape,
                    ..
                },
            ) if shape.len() == 2 => OutputType::F16,
            (Task::Sequence, other) => {
                return Err(Error::Model(format!(
                    "the model {name} output {} is {other:?}; expected logits float [batch, labels]",
                    output.name()
                )))
            }
            (Task::Token, other) => {
                return Err(Error::Model(format!(
                    "the model {name} output {} is {other:?}; expected float32 logits [batch, sequence, labels] \
                     (a token classifier; export float16 models with float32 outputs)",
                    output.name()
                )))
            }
        };
        let output = output.name().to_string();
        Ok(Runner {
            session: Pool::new(vec![session]),
            attention_mask,
            token_type_ids,
            output,
            output_type,
            task,
        })
    }

    /// Runs one batch; its logits as float32.
    pub fn run(&self, inputs: Inputs) -> Result<Logits> {
        let (rows, width) = (inputs.rows(), inputs.width());
        let mut feed = ort::inputs![INPUT_IDS => inputs.ids];
        if self.attention_mask {
            feed.push((ATTENTION_MASK.into(), inputs.mask.into()));
        }
        if self.token_type_ids {
            feed.push((TOKEN_TYPE_IDS.into(), inputs.types.into()));
        }
        let mut session = self.session.take();
        let outputs = session
            .run(feed)
            .map_err(|error| Error::Run(format!("the model failed on a batch of {rows}: {error}")))?;
        let value = &outputs[self.output.as_str()];
        let (shape, values): (Vec<i64>, Vec<f32>) = match self.output_type {
            OutputType::F32 => value
                .try_extract_tensor::<f32>()
                .map(|(shape, values)| (shape.to_vec(), values.to_vec())),
            OutputType::F16 => value
                .try_extract_tensor::<half::f16>()
                .map(|(shape, values)| (shape.to_vec(), values.iter().map(|value| value.to_f32()).collect())),
        }
        .map_err(|error| Error::Run(format!("reading the model's logits: {error}")))?;
        match self.task {
            Task::Sequence => {
                if rows == 0 || !values.len().is_multiple_of(rows) {
                    return Err(Error::Run(format!(
                        "the model returned {} logits for {rows} rows",
                        values.len()
                    )));
                }
            }
            Task::Token => {
                if shape.len() != 3 || shape[0] != rows as i64 || shape[1] != width as i64 {
                    return Err(Error::Run(format!(
                        "the model returned logits of shape {shape:?} for {rows} windows of {width} tokens; expected \
                         [batch, sequence, labels]"
                    )));
                }
            }
        }
        Ok(Logits { rows, width, values })
    }

    /// Runs `rows` of content tokens as one batch (the encoder adds special tokens and padding).
    pub fn run_rows(&self, encoder: &Encoder, rows: &[&[u32]]) -> Result<Logits> {
        self.run(encoder.inputs(rows)?)
    }

    /// Runs `rows` of content tokens, sorted by length, in the batches of [`plan_batches`];
    /// calls `each` with every batch's range of `rows` and its logits, in order. A second
    /// thread builds the next batch's tensors while the model runs the current one, so the
    /// device does not wait for the CPU.
    pub fn run_batches<E, F>(
        &self,
        encoder: &Encoder,
        rows: &[&[u32]],
        max_batch: usize,
        batch_tokens: usize,
        mut each: F,
    ) -> Result<BatchStats, E>
    where
        E: From<Error>,
        F: FnMut(Range<usize>, Logits) -> Result<(), E>,
    {
        let groups = plan_batches(
            rows.iter().map(|row| row.len()),
            encoder.specials(),
            max_batch,
            batch_tokens,
        );
        let mut stats = BatchStats::default();
        let (sender, receiver) = sync_channel::<(Range<usize>, Result<Inputs>)>(2);
        std::thread::scope(|scope| -> Result<(), E> {
            let groups = &groups;
            scope.spawn(move || {
                for group in groups {
                    if sender
                        .send((group.clone(), encoder.inputs(&rows[group.clone()])))
                        .is_err()
                    {
                        return;
                    }
                }
            });
            // The receiver goes with this loop: on an error it is dropped, which stops the
            // builder at its next batch rather than leaving it blocked on a full channel.
            for (group, inputs) in receiver {
                let inputs = inputs?;
                stats.tokens += inputs.tokens();
                stats.batches += 1;
                each(group, self.run(inputs)?)?;
            }
            Ok(())
        })?;
        Ok(stats)
    }
}
