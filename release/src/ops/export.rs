//! EXPORT: a variant of a version as chat-format JSON lines for training tools (ShareGPT or
//! OpenAI chat messages), filtered on the conversation-level columns. Streams shard by shard.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use arrow_array::RecordBatch;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use storage::ObjectStore;

use super::shard::{
    bool_column, int64_column, optional_bool, optional_i64, optional_str, read_batches, sha256_hex, string_column,
    Turns,
};
use crate::manifest::read_manifest;

/// Columns an export reads.
const EXPORT_COLUMNS: [&str; 7] = [
    "conversation_hash",
    "model",
    "conversation",
    "turn",
    "language",
    "toxic",
    "redacted",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// `{"id", "conversations": [{"from": "human"|"gpt", "value"}], "model", "language"}`
    ShareGpt,
    /// `{"messages": [{"role": "user"|"assistant", "content"}]}`
    OpenAiJsonl,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<ExportFormat, String> {
        match name {
            "sharegpt" | "share-gpt" => Ok(ExportFormat::ShareGpt),
            "openai-jsonl" | "openai" => Ok(ExportFormat::OpenAiJsonl),
            other => Err(format!("unknown export format {other:?}: use sharegpt or openai-jsonl")),
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ExportFormat::ShareGpt => "sharegpt",
            ExportFormat::OpenAiJsonl => "openai-jsonl",
        })
    }
}

/// Which conversations to export and how. Empty lists and `None` filter nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    pub variant: String,
    pub format: ExportFormat,
    /// Conversation `language` among these (compared ignoring ASCII case).
    pub languages: Vec<String>,
    pub toxic: Option<bool>,
    pub redacted: Option<bool>,
    /// Conversation `turn` at least this.
    pub min_turns: Option<i64>,
    /// Conversation `model` among these.
    pub models: Vec<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            variant: "full".to_string(),
            format: ExportFormat::ShareGpt,
            languages: Vec::new(),
            toxic: None,
            redacted: None,
            min_turns: None,
            models: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Conversations written.
    pub conversations: u64,
    /// Conversations the filters left out.
    pub skipped: u64,
}

#[derive(Serialize)]
struct ShareGptTurn<'a> {
    from: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ShareGptLine<'a> {
    id: Option<&'a str>,
    conversations: Vec<ShareGptTurn<'a>>,
    model: Option<&'a str>,
    language: Option<&'a str>,
}

#[derive(Serialize)]
struct OpenAiMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct OpenAiLine<'a> {
    messages: Vec<OpenAiMessage<'a>>,
}

/// Writes the conversations of one variant of `version` that pass the filters to `out`, one
/// JSON object per line, in shard and row order. Each shard is checked against the sha256 its
/// manifest lists before anything from it is written.
pub async fn export(
    store: &dyn ObjectStore,
    version: &str,
    options: ExportOptions,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<ExportReport> {
    let manifest = read_manifest(store, version).await?;
    let Some(variant) = manifest.variants.get(&options.variant) else {
        let known: Vec<&str> = manifest.variants.keys().map(String::as_str).collect();
        anyhow::bail!(
            "release {version} has no variant {:?} (it has {})",
            options.variant,
            known.join(", ")
        );
    };
    let mut report = ExportReport::default();
    for entry in &variant.shards {
        let body = store
            .get(&entry.key)
            .await
            .map_err(|error| anyhow::Error::new(error).context(format!("reading shard {}", entry.key)))?;
        let digest = sha256_hex(&body);
        if digest != entry.sha256 {
            anyhow::bail!(
                "shard {} has sha256 {digest} but its manifest lists {}: run verify on {version}",
                entry.key,
                entry.sha256
            );
        }
        let shard_options = options.clone();
        let (lines, shard_report) = tokio::task::spawn_blocking(move || export_shard(body, &shard_options))
            .await?
            .map_err(|error| error.context(format!("exporting shard {}", entry.key)))?;
        out.write_all(&lines)?;
        report.conversations += shard_report.conversations;
        report.skipped += shard_report.skipped;
    }
    out.flush()?;
    tracing::info!(
        version,
        variant = %options.variant,
        format = %options.format,
        conversations = report.conversations,
        skipped = report.skipped,
        "release exported"
    );
    Ok(report)
}

fn export_shard(shard: Bytes, options: &ExportOptions) -> anyhow::Result<(Vec<u8>, ExportReport)> {
    let mut lines = Vec::new();
    let mut report = ExportReport::default();
    for batch in read_batches(shard, Some(&EXPORT_COLUMNS))? {
        export_batch(&batch, options, &mut lines, &mut report)?;
    }
    Ok((lines, report))
}

fn export_batch(
    batch: &RecordBatch,
    options: &ExportOptions,
    lines: &mut Vec<u8>,
    report: &mut ExportReport,
) -> anyhow::Result<()> {
    let hashes = string_column(batch, "conversation_hash")?;
    let models = string_column(batch, "model")?;
    let languages = string_column(batch, "language")?;
    let turn_counts = int64_column(batch, "turn")?;
    let toxic = bool_column(batch, "toxic")?;
    let redacted = bool_column(batch, "redacted")?;
    let turns = Turns::of(batch)?;
    let (Some(contents), Some(roles)) = (turns.content, turns.role) else {
        anyhow::bail!("turns have no content or role field");
    };
    for row in 0..batch.num_rows() {
        let model = optional_str(models, row);
        let language = optional_str(languages, row);
        let passes = (options.languages.is_empty()
            || language.is_some_and(|language| {
                options
                    .languages
                    .iter()
                    .any(|wanted| wanted.eq_ignore_ascii_case(language))
            }))
            && (options.models.is_empty()
                || model.is_some_and(|model| options.models.iter().any(|wanted| wanted == model)))
            && options
                .toxic
                .is_none_or(|wanted| optional_bool(toxic, row) == Some(wanted))
            && options
                .redacted
                .is_none_or(|wanted| optional_bool(redacted, row) == Some(wanted))
            && options
                .min_turns
                .is_none_or(|minimum| optional_i64(turn_counts, row).is_some_and(|turn| turn >= minimum));
        if !passes {
            report.skipped += 1;
            continue;
        }
        // Turns without a role cannot be placed in a chat and are left out; null content is "".
        let messages = turns
            .range(row)
            .filter_map(|index| Some((optional_str(roles, index)?, optional_str(contents, index).unwrap_or(""))));
        match options.format {
            ExportFormat::ShareGpt => serde_json::to_writer(
                &mut *lines,
                &ShareGptLine {
                    id: optional_str(hashes, row),
                    conversations: messages
                        .map(|(role, content)| ShareGptTurn {
                            from: match role {
                                "user" => "human",
                                "assistant" => "gpt",
                                other => other,
                            },
                            value: content,
                        })
                        .collect(),
                    model,
                    language,
                },
            )?,
            ExportFormat::OpenAiJsonl => serde_json::to_writer(
                &mut *lines,
                &OpenAiLine {
                    messages: messages
                        .map(|(role, content)| OpenAiMessage { role, content })
                        .collect(),
                },
            )?,
        }
        lines.push(b'\n');
        report.conversations += 1;
    }
    Ok(())
}
