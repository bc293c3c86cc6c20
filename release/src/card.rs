//! The release's Hugging Face dataset card (`README.md`): YAML front matter with one config per
//! variant and the schema's features, then the statistics tables and charts. The card is a pure
//! function of the manifest and the merged statistics, so the same release renders the same
//! bytes, and every number in it is printed from [`ReleaseStats`] with one rule: integers as
//! they are, means, standard deviations and percentages with exactly two decimals (the values
//! are already rounded to two decimals, see [`crate::stats`]).

#[path = "charts.rs"]
mod charts;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_schema::{DataType, Fields, TimeUnit};
use serde_json::Value;

pub use charts::{render_charts, xml_escape, TOP_ROWS};

use crate::manifest::{Manifest, VARIANTS};
use crate::stats::{release_schema, ReleaseStats, Share};

/// What the card is rendered from.
pub struct CardInput<'a> {
    pub manifest: &'a Manifest,
    /// Per variant.
    pub statistics: &'a BTreeMap<String, ReleaseStats>,
    /// An identifier from Hugging Face's license list, e.g. `odc-by`.
    pub license: &'a str,
    pub pretty_name: &'a str,
}

/// Chart files the card links to, relative to the card (`charts/<name>`).
pub const CHART_FILES: [&str; 3] = ["languages.svg", "countries.svg", "turns.svg"];

const WILDCHAT_PAPER: &str = "https://arxiv.org/abs/2405.01470";

/// The variants to show: the known ones in [`VARIANTS`] order, then any others by name.
fn variant_names(input: &CardInput) -> Vec<String> {
    let mut names: Vec<String> = VARIANTS
        .iter()
        .filter(|name| input.manifest.variants.contains_key(**name) || input.statistics.contains_key(**name))
        .map(|name| name.to_string())
        .collect();
    for name in input.manifest.variants.keys().chain(input.statistics.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The config marked `default: true`: `full` when the release has it, else the first.
fn default_variant(input: &CardInput) -> Option<String> {
    let names: Vec<&String> = input.manifest.variants.keys().collect();
    if names.iter().any(|name| name.as_str() == VARIANTS[0]) {
        return Some(VARIANTS[0].to_string());
    }
    variant_names(input)
        .into_iter()
        .find(|name| input.manifest.variants.contains_key(name))
}

/// A YAML scalar: plain when that cannot be misread, else a double-quoted string (JSON string
/// syntax is valid YAML).
fn yaml_scalar(text: &str) -> String {
    let reserved = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"];
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.' | '/'))
        && text.starts_with(|character: char| character.is_ascii_alphabetic())
        && !reserved.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        yaml_quoted(text)
    }
}

fn yaml_quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Hugging Face's size category for a number of rows.
pub fn size_category(rows: u64) -> &'static str {
    const CATEGORIES: [(u64, &str); 10] = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
        (10_000_000_000, "1B<n<10B"),
        (100_000_000_000, "10B<n<100B"),
        (1_000_000_000_000, "100B<n<1T"),
    ];
    CATEGORIES
        .iter()
        .find(|(limit, _)| rows < *limit)
        .map_or("n>1T", |(_, category)| category)
}

/// ISO 639-1 codes of the release's language labels (lingua's English names); labels without
/// a code here are left out of the front matter.
fn iso_code(language: &str) -> Option<&'static str> {
    let code = match language {
        "Arabic" => "ar",
        "Bengali" => "bn",
        "Bulgarian" => "bg",
        "Catalan" => "ca",
        "Chinese" => "zh",
        "Croatian" => "hr",
        "Czech" => "cs",
        "Danish" => "da",
        "Dutch" => "nl",
        "English" => "en",
        "Estonian" => "et",
        "Finnish" => "fi",
        "French" => "fr",
        "German" => "de",
        "Greek" => "el",
        "Hebrew" => "he",
        "Hindi" => "hi",
        "Hungarian" => "hu",
        "Indonesian" => "id",
        "Italian" => "it",
        "Japanese" => "ja",
        "Kazakh" => "kk",
        "Korean" => "ko",
        "Latin" => "la",
        "Latvian" => "lv",
        "Lithuanian" => "lt",
        "Malay" => "ms",
        "Persian" => "fa",
        "Polish" => "pl",
        "Portuguese" => "pt",
        "Romanian" => "ro",
        "Russian" => "ru",
        "Serbian" => "sr",
        "Slovak" => "sk",
        "Slovene" => "sl",
        "Spanish" => "es",
        "Swedish" => "sv",
        "Tagalog" => "tl",
        "Thai" => "th",
        "Turkish" => "tr",
        "Ukrainian" => "uk",
        "Urdu" => "ur",
        "Vietnamese" => "vi",
        _ => return None,
    };
    Some(code)
}

/// Hugging Face's `dtype` for an arrow leaf type.
fn hf_dtype(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::Utf8View => "string".to_string(),
        DataType::LargeUtf8 => "large_string".to_string(),
        DataType::Boolean => "bool".to_string(),
        DataType::Int8 => "int8".to_string(),
        DataType::Int16 => "int16".to_string(),
        DataType::Int32 => "int32".to_string(),
        DataType::Int64 => "int64".to_string(),
        DataType::UInt8 => "uint8".to_string(),
        DataType::UInt16 => "uint16".to_string(),
        DataType::UInt32 => "uint32".to_string(),
        DataType::UInt64 => "uint64".to_string(),
        DataType::Float16 => "float16".to_string(),
        DataType::Float32 => "float32".to_string(),
        DataType::Float64 => "float64".to_string(),
        DataType::Timestamp(unit, timezone) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match timezone {
                Some(timezone) => format!("timestamp[{unit}, tz={timezone}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

/// The features list as Hugging Face writes it: `dtype` for leaves, `struct:` for structs,
/// `list:` with the item's fields for lists of structs, `sequence:` for lists of leaves.
fn write_features(out: &mut String, fields: &Fields, indent: &str) {
    for field in fields {
        let _ = writeln!(out, "{indent}- name: {}", yaml_scalar(field.name()));
        write_feature_type(out, field.data_type(), indent);
    }
}

fn write_feature_type(out: &mut String, data_type: &DataType, indent: &str) {
    let nested = format!("{indent}  ");
    match data_type {
        DataType::Struct(fields) => {
            let _ = writeln!(out, "{nested}struct:");
            write_features(out, fields, &nested);
        }
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(fields) => {
                let _ = writeln!(out, "{nested}list:");
                write_features(out, fields, &nested);
            }
            leaf => {
                let _ = writeln!(out, "{nested}sequence: {}", hf_dtype(leaf));
            }
        },
        leaf => {
            let _ = writeln!(out, "{nested}dtype: {}", hf_dtype(leaf));
        }
    }
}

fn variant_bytes(input: &CardInput, name: &str) -> u64 {
    input
        .manifest
        .variants
        .get(name)
        .map_or(0, |variant| variant.shards.iter().map(|shard| shard.bytes).sum())
}

fn front_matter(input: &CardInput) -> String {
    let mut out = String::from("---\n");
    let _ = writeln!(out, "license: {}", yaml_scalar(input.license));
    let _ = writeln!(out, "pretty_name: {}", yaml_quoted(input.pretty_name));
    out.push_str("task_categories:\n- text-generation\n- question-answering\n");

    let default = default_variant(input);
    let language_source = default
        .as_ref()
        .and_then(|name| input.statistics.get(name))
        .or_else(|| input.statistics.values().next());
    let mut codes: Vec<&str> = Vec::new();
    for share in language_source.map_or(&[][..], |stats| &stats.languages[..]) {
        if let Some(code) = iso_code(&share.name) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    if !codes.is_empty() {
        out.push_str("language:\n");
        for code in codes {
            let _ = writeln!(out, "- {code}");
        }
    }
    let largest = input
        .manifest
        .variants
        .values()
        .map(|variant| variant.rows)
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "size_categories:\n- {}", size_category(largest));

    let names: Vec<String> = variant_names(input)
        .into_iter()
        .filter(|name| input.manifest.variants.contains_key(name))
        .collect();
    if !names.is_empty() {
        out.push_str("configs:\n");
        for name in &names {
            let _ = writeln!(out, "- config_name: {}", yaml_scalar(name));
            out.push_str("  data_files:\n  - split: train\n");
            let _ = writeln!(out, "    path: {}", yaml_quoted(&format!("{name}/*.parquet")));
            if default.as_deref() == Some(name.as_str()) {
                out.push_str("  default: true\n");
            }
        }
        let schema = release_schema();
        out.push_str("dataset_info:\n");
        for name in &names {
            let rows = input.manifest.variants.get(name).map_or(0, |variant| variant.rows);
            let bytes = variant_bytes(input, name);
            let _ = writeln!(out, "- config_name: {}", yaml_scalar(name));
            out.push_str("  features:\n");
            write_features(&mut out, schema.fields(), "  ");
            out.push_str("  splits:\n  - name: train\n");
            let _ = writeln!(out, "    num_bytes: {bytes}\n    num_examples: {rows}");
            let _ = writeln!(out, "  download_size: {bytes}\n  dataset_size: {bytes}");
        }
    }
    out.push_str("---\n");
    out
}

/// Text for a Markdown table cell or line: no line breaks, table pipes and markup escaped.
fn md(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                escaped.push('\\');
                escaped.push(character);
            }
            '\n' | '\r' | '\t' => escaped.push(' '),
            control if control.is_control() => escaped.push('\u{FFFD}'),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Text inside an inline code span.
fn code(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|character| {
            if character == '`' || character.is_control() {
                '\''
            } else {
                character
            }
        })
        .collect();
    format!("`{}`", cleaned.replace('|', "\\|"))
}

fn two(value: f64) -> String {
    format!("{value:.2}")
}

fn count_and_percent(count: u64, percent: f64) -> String {
    format!("{count} ({}%)", two(percent))
}

/// A table's header; `numeric` columns are right-aligned.
fn table_header(out: &mut String, first: &str, columns: &[String], numeric: bool) {
    let aligned: Vec<(&str, bool)> = columns.iter().map(|column| (column.as_str(), numeric)).collect();
    table_header_aligned(out, first, &aligned);
}

fn table_header_aligned(out: &mut String, first: &str, columns: &[(&str, bool)]) {
    let _ = write!(out, "| {first} |");
    for (column, _) in columns {
        let _ = write!(out, " {column} |");
    }
    out.push_str("\n|---|");
    for (_, numeric) in columns {
        out.push_str(if *numeric { "---:|" } else { "---|" });
    }
    out.push('\n');
}

fn table_row(out: &mut String, first: &str, cells: &[String]) {
    let _ = write!(out, "| {first} |");
    for cell in cells {
        let _ = write!(out, " {cell} |");
    }
    out.push('\n');
}

fn release_section(out: &mut String, input: &CardInput) {
    let manifest = input.manifest;
    out.push_str("## Release\n\n");
    table_header(out, "Field", &["Value".to_string()], false);
    table_row(out, "Version", &[code(&manifest.version)]);
    let parent = manifest.parent.as_deref().map_or("none".to_string(), code);
    table_row(out, "Parent version", &[parent]);
    table_row(out, "Created", &[md(&manifest.created_at)]);
    table_row(out, "Code version", &[code(&manifest.code_version)]);
    table_row(out, "Run", &[code(&manifest.run_id)]);
    table_row(out, "Schema", &[md(&manifest.schema)]);
    table_row(out, "Manifest format", &[code(&manifest.format)]);
    table_row(out, "Config sha256", &[code(&manifest.config_sha256)]);
    table_row(out, "Input objects", &[manifest.inputs.len().to_string()]);
    table_row(out, "Input snapshot sha256", &[code(&manifest.inputs_sha256)]);
    table_row(out, "Quarantine files", &[manifest.quarantine.len().to_string()]);
    table_row(out, "License", &[code(input.license)]);
    out.push('\n');

    if let Some(amendment) = &manifest.amendment {
        out.push_str("### Amendment\n\n");
        let _ = writeln!(
            out,
            "Amended from {} with a removal list of {} entries (sha256 {}).\n",
            manifest.parent.as_deref().map_or("its parent".to_string(), code),
            amendment.removal_entries,
            code(&amendment.removal_list_sha256)
        );
        let names: Vec<&String> = amendment
            .removed
            .keys()
            .chain(amendment.rewritten_shards.keys())
            .collect();
        let mut columns: Vec<&String> = Vec::new();
        for name in names {
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
        table_header(
            out,
            "Config",
            &["Conversations removed".to_string(), "Shards rewritten".to_string()],
            true,
        );
        for name in columns {
            let removed = amendment.removed.get(name).copied().unwrap_or(0);
            let rewritten = amendment.rewritten_shards.get(name).copied().unwrap_or(0);
            table_row(out, &code(name), &[removed.to_string(), rewritten.to_string()]);
        }
        out.push('\n');
    }
}

fn configurations_section(out: &mut String, input: &CardInput) {
    out.push_str("## Configurations\n\n");
    out.push_str(
        "Conversations with any `sexual/minors` moderation flag are left out of every configuration; \
         `full` holds all the others and `nontoxic` leaves out the toxic conversations as well.\n\n",
    );
    table_header_aligned(
        out,
        "Config",
        &[
            ("Files", false),
            ("Conversations", true),
            ("Shards", true),
            ("Parquet bytes", true),
        ],
    );
    let default = default_variant(input);
    for name in variant_names(input) {
        let Some(variant) = input.manifest.variants.get(&name) else {
            continue;
        };
        let marker = if default.as_deref() == Some(name.as_str()) {
            " (default)"
        } else {
            ""
        };
        table_row(
            out,
            &format!("{}{marker}", code(&name)),
            &[
                code(&format!("{name}/*.parquet")),
                variant.rows.to_string(),
                variant.shards.len().to_string(),
                variant_bytes(input, &name).to_string(),
            ],
        );
    }
    out.push_str("\nLoad a configuration from a copy of this directory:\n\n```python\n");
    out.push_str("from datasets import load_dataset\n\n");
    let example = default.unwrap_or_else(|| VARIANTS[0].to_string());
    let _ = writeln!(
        out,
        "dataset = load_dataset(\"parquet\", data_files={}, split=\"train\")",
        serde_json::to_string(&format!("{example}/*.parquet")).unwrap_or_default()
    );
    out.push_str("```\n\n");
}

/// A row of a per-variant table: its label and how to print a variant's cell.
type StatisticRow = (&'static str, fn(&ReleaseStats) -> String);

/// A table with one row per label and one column per variant.
fn per_variant_table(out: &mut String, first: &str, columns: &[(&String, &ReleaseStats)], rows: &[StatisticRow]) {
    let headers: Vec<String> = columns.iter().map(|(name, _)| code(name)).collect();
    table_header(out, first, &headers, true);
    for (label, cell) in rows {
        let cells: Vec<String> = columns.iter().map(|(_, stats)| cell(stats)).collect();
        table_row(out, label, &cells);
    }
    out.push('\n');
}

fn optional_text(value: &Option<String>) -> String {
    value.as_deref().map_or("none".to_string(), md)
}

fn share_table(out: &mut String, first: &str, table: &[Share], total: u64) {
    let bars = charts::top_with_other(table, total, TOP_ROWS);
    table_header(out, first, &["Conversations".to_string(), "%".to_string()], true);
    for bar in bars {
        table_row(out, &md(&bar.label), &[bar.count.to_string(), two(bar.percent)]);
    }
    out.push('\n');
}

/// A table of the union of the variants' rows, ordered as in the first variant that has them.
fn union_share_table(
    out: &mut String,
    first: &str,
    columns: &[(&String, &ReleaseStats)],
    pick: fn(&ReleaseStats) -> &[Share],
) {
    let mut labels: Vec<&str> = Vec::new();
    for (_, stats) in columns {
        for share in pick(stats) {
            if !labels.contains(&share.name.as_str()) {
                labels.push(&share.name);
            }
        }
    }
    let headers: Vec<String> = columns.iter().map(|(name, _)| code(name)).collect();
    table_header(out, first, &headers, true);
    for label in labels {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, stats)| {
                pick(stats)
                    .iter()
                    .find(|share| share.name == label)
                    .map_or("0 (0.00%)".to_string(), |share| {
                        count_and_percent(share.count, share.percent)
                    })
            })
            .collect();
        table_row(out, &md(label), &cells);
    }
    out.push('\n');
}

fn statistics_section(out: &mut String, input: &CardInput) {
    out.push_str("## Statistics\n\n");
    let names = variant_names(input);
    let columns: Vec<(&String, &ReleaseStats)> = names
        .iter()
        .filter_map(|name| input.statistics.get(name).map(|stats| (name, stats)))
        .collect();
    if columns.is_empty() {
        out.push_str("No statistics were recorded for this release.\n\n");
        return;
    }
    out.push_str(
        "Computed from the released Parquet shards. One row is one conversation; a turn is one \
         user prompt or one assistant response. Lengths are in characters (Unicode code points), \
         not tokens. Users are distinct hashed IPs (first 16 hex digits). `sd` is the population \
         standard deviation. Means, standard deviations and percentages are rounded to two \
         decimals, ties to even (Python's `round(x, 2)`); percentages of turns are of the turns of \
         that role. Null languages, countries and models are counted as `Unknown`.\n\n",
    );
    for (name, stats) in &columns {
        let rows = input.manifest.variants.get(*name).map(|variant| variant.rows);
        if let Some(rows) = rows.filter(|rows| *rows != stats.conversations) {
            let _ = writeln!(
                out,
                "> Note: the statistics of {} cover {} conversations; the manifest lists {rows}.\n",
                code(name),
                stats.conversations
            );
        }
    }

    out.push_str("### Basic statistics\n\n");
    let mut basic: Vec<StatisticRow> = vec![
        ("Conversations", |stats| stats.conversations.to_string()),
        ("Turns (Σ `turn`)", |stats| stats.turns.to_string()),
        ("User turns", |stats| stats.user_turns.to_string()),
        ("Assistant turns", |stats| stats.assistant_turns.to_string()),
        ("Users (distinct hashed IPs)", |stats| stats.users.to_string()),
        ("Mean turns per conversation", |stats| {
            two(stats.mean_turns_per_conversation)
        }),
        ("User prompt length, characters (mean ± sd)", |stats| {
            format!(
                "{} ± {}",
                two(stats.user_prompt_chars.mean),
                two(stats.user_prompt_chars.sd)
            )
        }),
        ("Assistant response length, characters (mean ± sd)", |stats| {
            format!(
                "{} ± {}",
                two(stats.assistant_response_chars.mean),
                two(stats.assistant_response_chars.sd)
            )
        }),
        ("First conversation (UTC)", |stats| {
            optional_text(&stats.first_timestamp)
        }),
        ("Last conversation (UTC)", |stats| optional_text(&stats.last_timestamp)),
    ];
    if columns.iter().any(|(_, stats)| stats.other_role_turns > 0) {
        basic.push(("Turns of other roles", |stats| stats.other_role_turns.to_string()));
    }
    if columns.iter().any(|(_, stats)| stats.conversations_without_ip > 0) {
        basic.push(("Conversations without hashed IP", |stats| {
            stats.conversations_without_ip.to_string()
        }));
    }
    per_variant_table(out, "Statistic", &columns, &basic);

    out.push_str("### Toxicity\n\n");
    out.push_str("A turn is toxic when it is flagged by moderation or its Detoxify toxicity is above 0.1; a conversation is toxic when any of its turns is.\n\n");
    per_variant_table(
        out,
        "Toxic",
        &columns,
        &[
            ("Conversations", |stats| {
                count_and_percent(stats.toxicity.conversations, stats.toxicity.conversations_percent)
            }),
            ("User turns", |stats| {
                count_and_percent(stats.toxicity.user_turns, stats.toxicity.user_turns_percent)
            }),
            ("Assistant turns", |stats| {
                count_and_percent(stats.toxicity.assistant_turns, stats.toxicity.assistant_turns_percent)
            }),
        ],
    );

    out.push_str("### Redaction\n\n");
    out.push_str("Personal information replaced by `<PRESIDIO_ANONYMIZED_...>` placeholders; percentages of turns are of all turns.\n\n");
    per_variant_table(
        out,
        "Redacted",
        &columns,
        &[
            ("Conversations", |stats| {
                count_and_percent(stats.redaction.conversations, stats.redaction.conversations_percent)
            }),
            ("Turns", |stats| {
                count_and_percent(stats.redaction.turns, stats.redaction.turns_percent)
            }),
        ],
    );

    out.push_str("### Models\n\n");
    out.push_str("Model families by the `model` column (`gpt-4*`, `gpt-3.5*`, other):\n\n");
    union_share_table(out, "Family", &columns, |stats| &stats.model_families);
    out.push_str("By model:\n\n");
    union_share_table(out, "Model", &columns, |stats| &stats.models);

    let chart_note = default_variant(input)
        .filter(|name| input.statistics.contains_key(name))
        .map(|name| format!(" The charts show {}.", code(&name)))
        .unwrap_or_default();

    out.push_str("### Languages\n\n");
    let _ = writeln!(
        out,
        "Conversations by language (the most frequent language of its turns), top {TOP_ROWS} and the rest.{chart_note}\n"
    );
    out.push_str("![Conversations by language](charts/languages.svg)\n\n");
    for (name, stats) in &columns {
        let _ = writeln!(out, "#### {}\n", code(name));
        share_table(out, "Language", &stats.languages, stats.conversations);
    }

    out.push_str("### Countries\n\n");
    let _ = writeln!(
        out,
        "Conversations by the country of their user's IP address, top {TOP_ROWS} and the rest.{chart_note}\n"
    );
    out.push_str("![Conversations by country](charts/countries.svg)\n\n");
    for (name, stats) in &columns {
        let _ = writeln!(out, "#### {}\n", code(name));
        share_table(out, "Country", &stats.countries, stats.conversations);
    }

    out.push_str("### Turns per conversation\n\n");
    let _ = writeln!(out, "Conversations by their number of turns (`turn`).{chart_note}\n");
    out.push_str("![Turns per conversation](charts/turns.svg)\n\n");
    let mut labels: Vec<&str> = Vec::new();
    for (_, stats) in &columns {
        for bucket in &stats.turn_buckets {
            if !labels.contains(&bucket.label.as_str()) {
                labels.push(&bucket.label);
            }
        }
    }
    let headers: Vec<String> = columns.iter().map(|(name, _)| code(name)).collect();
    table_header(out, "Turns", &headers, true);
    for label in labels {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, stats)| {
                stats
                    .turn_buckets
                    .iter()
                    .find(|bucket| bucket.label == label)
                    .map_or("0 (0.00%)".to_string(), |bucket| {
                        count_and_percent(bucket.conversations, bucket.percent)
                    })
            })
            .collect();
        table_row(out, &md(label), &cells);
    }
    out.push('\n');
}

fn counter_value(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => md(text),
        other => code(&other.to_string()),
    }
}

/// Leaves of a nested counter object as dotted names.
fn flatten_counters(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                let dotted = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten_counters(&dotted, inner, rows);
            }
        }
        leaf => rows.push((prefix.to_string(), counter_value(leaf))),
    }
}

fn counters_section(out: &mut String, counters: &Value) {
    let Value::Object(groups) = counters else {
        return;
    };
    if groups.is_empty() {
        return;
    }
    out.push_str("## Processing counters\n\n");
    out.push_str("Counted by the run that made this release: rows read, and every row or conversation quarantined, dropped, excluded or redacted, by reason.\n\n");
    let totals: Vec<(&String, &Value)> = groups.iter().filter(|(_, value)| !value.is_object()).collect();
    if !totals.is_empty() {
        table_header(out, "Counter", &["Count".to_string()], true);
        for (name, value) in totals {
            table_row(out, &md(name), &[counter_value(value)]);
        }
        out.push('\n');
    }
    for (group, value) in groups.iter().filter(|(_, value)| value.is_object()) {
        let _ = writeln!(out, "### {}\n", md(group));
        let mut rows = Vec::new();
        flatten_counters("", value, &mut rows);
        if rows.is_empty() {
            out.push_str("None.\n\n");
            continue;
        }
        table_header(out, "Reason", &["Count".to_string()], true);
        for (name, count) in rows {
            table_row(out, &md(&name), &[count]);
        }
        out.push('\n');
    }
}

/// Renders the dataset card (`README.md`) of a release.
pub fn render_card(input: &CardInput) -> String {
    let mut out = front_matter(input);
    let _ = writeln!(out, "\n# {}\n", md(input.pretty_name));
    let _ = writeln!(
        out,
        "Conversations between users and chatbots in the format of [WildChat-1M]({WILDCHAT_PAPER}): one row per \
         conversation, with the turns' language, country and state, hashed IP address, request headers, toxicity \
         flags and scores, and personal information redacted. This card was generated from release {} and its \
         manifest.\n",
        code(&input.manifest.version)
    );
    release_section(&mut out, input);
    configurations_section(&mut out, input);
    statistics_section(&mut out, input);
    counters_section(&mut out, &input.manifest.counters);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};
    use storage::ObjectMeta;

    use super::*;
    use crate::manifest::{Amendment, ShardEntry, Variant, MANIFEST_FORMAT};
    use crate::stats::tests::{conversation, hashed_ip, write_shard, TestConversation};
    use crate::stats::{merge, shard_stats};

    /// Just enough YAML for the front matter: block mappings and sequences by indentation,
    /// plain and double-quoted scalars. Anything else fails the test.
    struct Yaml {
        lines: Vec<(usize, String)>,
        position: usize,
    }

    fn parse_yaml(text: &str) -> Value {
        let lines: Vec<(usize, String)> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                assert!(!line.contains('\t'), "tab in YAML: {line:?}");
                let indent = line.len() - line.trim_start_matches(' ').len();
                (indent, line[indent..].to_string())
            })
            .collect();
        let mut parser = Yaml { lines, position: 0 };
        let value = parser.block(0);
        assert_eq!(
            parser.position,
            parser.lines.len(),
            "YAML left unparsed at {:?}",
            parser.lines.get(parser.position)
        );
        value
    }

    fn scalar(text: &str) -> Value {
        if text.starts_with('"') {
            return Value::String(serde_json::from_str(text).expect("a double-quoted scalar"));
        }
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
        if let Ok(number) = text.parse::<u64>() {
            return Value::from(number);
        }
        assert!(
            !text.starts_with(['[', '{', '&', '*', '!', '|', '>', '\'', '%', '@', '`', '-', '#'])
                && !text.contains(": ")
                && !text.contains(" #"),
            "plain scalar that YAML would misread: {text:?}"
        );
        Value::String(text.to_string())
    }

    impl Yaml {
        fn current(&self) -> Option<&(usize, String)> {
            self.lines.get(self.position)
        }

        fn block(&mut self, indent: usize) -> Value {
            let (line_indent, text) = self.current().expect("a YAML block").clone();
            assert_eq!(line_indent, indent, "bad indentation at {text:?}");
            if text.starts_with("- ") {
                self.sequence(indent)
            } else {
                self.mapping(indent)
            }
        }

        fn sequence(&mut self, indent: usize) -> Value {
            let mut items = Vec::new();
            while let Some((line_indent, text)) = self.current().cloned() {
                if line_indent != indent || !text.starts_with("- ") {
                    break;
                }
                let rest = text[2..].to_string();
                if rest.contains(": ") || rest.ends_with(':') {
                    self.lines[self.position] = (indent + 2, rest);
                    items.push(self.mapping(indent + 2));
                } else {
                    items.push(scalar(&rest));
                    self.position += 1;
                }
            }
            Value::Array(items)
        }

        fn mapping(&mut self, indent: usize) -> Value {
            let mut map = Map::new();
            while let Some((line_indent, text)) = self.current().cloned() {
                assert!(line_indent <= indent, "unexpected indentation at {text:?}");
                if line_indent < indent || text.starts_with("- ") {
                    break;
                }
                let (key, value) = match text.strip_suffix(':') {
                    Some(key) => (key.to_string(), String::new()),
                    None => {
                        let (key, value) = text.split_once(": ").expect("key: value");
                        (key.to_string(), value.to_string())
                    }
                };
                assert!(!map.contains_key(&key), "duplicate key {key}");
                self.position += 1;
                let value = if value.is_empty() {
                    match self.current().cloned() {
                        Some((next, text)) if next > indent || (next == indent && text.starts_with("- ")) => {
                            self.block(next)
                        }
                        _ => Value::Null,
                    }
                } else {
                    scalar(&value)
                };
                map.insert(key, value);
            }
            Value::Object(map)
        }
    }

    fn front_matter_of(card: &str) -> Value {
        let body = card.strip_prefix("---\n").expect("card starts with front matter");
        let (yaml, _) = body.split_once("\n---\n").expect("front matter ends");
        parse_yaml(yaml)
    }

    fn full_rows() -> Vec<TestConversation> {
        let mut toxic = conversation(2, &hashed_ip('b', '0'), "A<B & C|D", "English");
        toxic.toxic = Some(true);
        toxic.model = Some("gpt-4-0314".to_string());
        vec![
            conversation(1, &hashed_ip('a', '0'), "France", "French"),
            toxic,
            conversation(3, &hashed_ip('a', '1'), "France", "English"),
        ]
    }

    fn entry(key: &str, rows: u64, bytes: u64) -> ShardEntry {
        ShardEntry {
            key: key.to_string(),
            rows,
            bytes,
            sha256: "0".repeat(64),
            stats_key: None,
        }
    }

    fn fixture() -> (Manifest, BTreeMap<String, ReleaseStats>) {
        let full = full_rows();
        let nontoxic: Vec<TestConversation> = full.iter().filter(|row| row.toxic != Some(true)).cloned().collect();
        let mut statistics = BTreeMap::new();
        statistics.insert(
            "full".to_string(),
            merge(&[
                shard_stats(&write_shard(&full[..1])).expect("stats"),
                shard_stats(&write_shard(&full[1..])).expect("stats"),
            ]),
        );
        statistics.insert(
            "nontoxic".to_string(),
            merge(&[shard_stats(&write_shard(&nontoxic)).expect("stats")]),
        );
        let mut variants = BTreeMap::new();
        variants.insert(
            "nontoxic".to_string(),
            Variant {
                rows: 2,
                shards: vec![entry("releases/v2/nontoxic/part-00000.parquet", 2, 700)],
            },
        );
        variants.insert(
            "full".to_string(),
            Variant {
                rows: 3,
                shards: vec![
                    entry("releases/v2/full/part-00000.parquet", 1, 500),
                    entry("releases/v2/full/part-00001.parquet", 2, 600),
                ],
            },
        );
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: "v2".to_string(),
            parent: Some("v1".to_string()),
            run_id: "run-1".to_string(),
            created_at: "2024-05-01T00:00:00+00:00".to_string(),
            code_version: "coordinator 0.1.0 (abc123)".to_string(),
            schema: "WildChat-1M".to_string(),
            config: json!({}),
            config_sha256: "c".repeat(64),
            inputs: vec![ObjectMeta {
                key: "raw/a.jsonl".to_string(),
                size: 10,
                etag: "e".to_string(),
            }],
            inputs_sha256: "d".repeat(64),
            variants,
            counters: json!({
                "rows_read": 12,
                "quarantined": {"invalid_json": 2},
                "chains_dropped": {},
                "excluded": {"sexual_minors": 1, "takedown": {"by_hash": 3}},
            }),
            work: json!({}),
            quarantine: vec![],
            statistics: BTreeMap::new(),
            amendment: Some(Amendment {
                removal_list_sha256: "f".repeat(64),
                removal_entries: 4,
                removed: [("full".to_string(), 1)].into_iter().collect(),
                rewritten_shards: [("full".to_string(), 1)].into_iter().collect(),
            }),
        };
        (manifest, statistics)
    }

    fn render(manifest: &Manifest, statistics: &BTreeMap<String, ReleaseStats>) -> String {
        render_card(&CardInput {
            manifest,
            statistics,
            license: "odc-by",
            pretty_name: "WildChat: \"test\" release",
        })
    }

    #[test]
    fn front_matter_describes_every_config_with_its_statistics() {
        let (manifest, statistics) = fixture();
        let card = render(&manifest, &statistics);
        let yaml = front_matter_of(&card);
        assert_eq!(yaml["license"], "odc-by");
        assert_eq!(yaml["pretty_name"], "WildChat: \"test\" release");
        assert_eq!(yaml["size_categories"], json!(["n<1K"]));
        assert_eq!(yaml["task_categories"][0], "text-generation");
        // By conversations in `full`: English 2, French 1.
        assert_eq!(yaml["language"], json!(["en", "fr"]));
        assert_eq!(
            yaml["configs"],
            json!([
                {"config_name": "full", "data_files": [{"split": "train", "path": "full/*.parquet"}], "default": true},
                {"config_name": "nontoxic", "data_files": [{"split": "train", "path": "nontoxic/*.parquet"}]},
            ])
        );
        let infos = yaml["dataset_info"].as_array().expect("dataset_info list");
        assert_eq!(infos.len(), 2);
        for info in infos {
            let name = info["config_name"].as_str().expect("config name");
            let split = &info["splits"][0];
            assert_eq!(split["name"], "train");
            assert_eq!(split["num_examples"], statistics[name].conversations);
            assert_eq!(split["num_examples"], manifest.variants[name].rows);
            let bytes: u64 = manifest.variants[name].shards.iter().map(|shard| shard.bytes).sum();
            assert_eq!(split["num_bytes"], bytes);
            assert_eq!(info["download_size"], bytes);
            let names: Vec<&str> = info["features"]
                .as_array()
                .expect("features")
                .iter()
                .filter_map(|feature| feature["name"].as_str())
                .collect();
            let schema = release_schema();
            let expected: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
            assert_eq!(names, expected);
            let features = &info["features"];
            assert_eq!(
                features[2],
                json!({"name": "timestamp", "dtype": "timestamp[us, tz=UTC]"})
            );
            assert_eq!(features[4], json!({"name": "turn", "dtype": "int64"}));
            let turn_fields = features[3]["list"]
                .as_array()
                .expect("conversation is a list of structs");
            assert_eq!(turn_fields.len(), 11);
            assert_eq!(
                turn_fields[3],
                json!({"name": "header", "struct": [
                    {"name": "accept-language", "dtype": "string"},
                    {"name": "user-agent", "dtype": "string"},
                ]})
            );
            let moderation = &features[6]["list"];
            assert_eq!(moderation[0]["struct"].as_array().map(Vec::len), Some(18));
            assert_eq!(
                moderation[1]["struct"][1],
                json!({"name": "harassment/threatening", "dtype": "float64"})
            );
            assert_eq!(features[7]["list"][6], json!({"name": "toxicity", "dtype": "float64"}));
        }
    }

    #[test]
    fn the_card_prints_the_numbers_of_the_statistics() {
        let (manifest, statistics) = fixture();
        let card = render(&manifest, &statistics);
        let full = &statistics["full"];
        assert_eq!((full.conversations, full.users, full.turns), (3, 2, 6));
        assert!(card.contains("| Conversations | 3 | 2 |"), "{card}");
        assert!(card.contains("| Users (distinct hashed IPs) | 2 | 1 |"), "{card}");
        assert!(card.contains("| Mean turns per conversation | 2.00 | 2.00 |"), "{card}");
        let lengths = format!(
            "| User prompt length, characters (mean ± sd) | {:.2} ± {:.2} |",
            full.user_prompt_chars.mean, full.user_prompt_chars.sd
        );
        assert!(card.contains(&lengths), "{card}");
        // Toxic conversations: 1 of 3 in full, none in nontoxic.
        assert!(card.contains("| Conversations | 1 (33.33%) | 0 (0.00%) |"), "{card}");
        assert!(card.contains("| French | 1 | 33.33 |"), "{card}");
        assert!(card.contains("| GPT-3.5 | 2 (66.67%) | 2 (100.00%) |"), "{card}");
        assert!(card.contains("| 1 | 1 (33.33%) | 1 (50.00%) |"), "{card}");
        for chart in CHART_FILES {
            assert!(card.contains(&format!("(charts/{chart})")), "{chart}");
        }
        assert!(card.contains("| Parent version | `v1` |"));
        assert!(card.contains("| `full` | 1 | 1 |"), "amendment table: {card}");
        assert!(!card.contains("> Note:"), "stats and manifest agree");
    }

    #[test]
    fn counters_render_by_group_whatever_the_groups() {
        let (manifest, statistics) = fixture();
        let card = render(&manifest, &statistics);
        let counters = card.split("## Processing counters").nth(1).expect("counters section");
        assert!(counters.contains("| rows\\_read | 12 |"), "{counters}");
        assert!(counters.contains("### chains\\_dropped\n\nNone."), "{counters}");
        assert!(counters.contains("### excluded\n"), "{counters}");
        assert!(counters.contains("| takedown.by\\_hash | 3 |"), "{counters}");
        assert!(counters.contains("| invalid\\_json | 2 |"), "{counters}");
    }

    #[test]
    fn labels_are_escaped_in_the_card_and_the_charts() {
        let (manifest, statistics) = fixture();
        let card = render(&manifest, &statistics);
        assert!(card.contains("| A&lt;B &amp; C\\|D | 1 | 33.33 |"), "{card}");
        let charts = render_charts(&statistics["full"]);
        let names: Vec<&str> = charts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, CHART_FILES);
        for (name, svg) in &charts {
            assert_well_formed(svg);
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{name}");
            assert!(svg.contains(" viewBox=\"0 0 "), "{name}");
        }
        assert!(charts[1].1.contains(">A&lt;B &amp; C|D</text>"), "{}", charts[1].1);
    }

    #[test]
    fn distributions_show_the_top_rows_and_the_rest() {
        let rows: Vec<TestConversation> = (0..25)
            .map(|index| {
                let ip = format!("{index:016x}{}", "0".repeat(48));
                let mut row = conversation(1, &ip, &format!("Country {index:02}"), "English");
                if index < 2 {
                    row.country = Some("Atlantis".to_string());
                }
                row
            })
            .collect();
        let stats = merge(&[shard_stats(&write_shard(&rows)).expect("stats")]);
        assert_eq!(stats.countries.len(), 24);
        let charts = render_charts(&stats);
        let countries = &charts[1].1;
        assert_well_formed(countries);
        // A background, 20 bars and one for the other 4 countries.
        assert_eq!(countries.matches("<rect").count(), 22);
        assert!(countries.contains(">Other (4 more)</text>"), "{countries}");
        assert!(countries.contains(">4 (16.00%)</text>"), "{countries}");
        assert!(countries.contains(">2 (8.00%)</text>"), "{countries}");
    }

    #[test]
    fn rendering_is_deterministic_and_survives_missing_statistics() {
        let (manifest, statistics) = fixture();
        assert_eq!(render(&manifest, &statistics), render(&manifest, &statistics));
        let charts = render_charts(&statistics["full"]);
        assert_eq!(charts, render_charts(&statistics["full"]));

        let empty = BTreeMap::new();
        let card = render(&manifest, &empty);
        assert!(card.contains("No statistics were recorded for this release."));
        front_matter_of(&card);
        let charts = render_charts(&ReleaseStats::default());
        for (_, svg) in &charts {
            assert_well_formed(svg);
            assert!(svg.contains(">no data</text>"));
        }

        let mut disagreeing = statistics.clone();
        if let Some(stats) = disagreeing.get_mut("nontoxic") {
            stats.conversations = 5;
        }
        assert!(render(&manifest, &disagreeing)
            .contains("> Note: the statistics of `nontoxic` cover 5 conversations; the manifest lists 2."));
    }

    #[test]
    fn scalars_are_quoted_when_yaml_would_misread_them() {
        assert_eq!(yaml_scalar("odc-by"), "odc-by");
        assert_eq!(yaml_scalar("cc-by-4.0"), "cc-by-4.0");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("-x"), "\"-x\"");
        assert_eq!(yaml_scalar(""), "\"\"");
        assert_eq!(size_category(999), "n<1K");
        assert_eq!(size_category(1_000), "1K<n<10K");
        assert_eq!(size_category(837_989), "100K<n<1M");
    }

    /// Tags balance, attributes are quoted, and text holds no raw `<` or bare `&`.
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            assert_text(&rest[..start]);
            let end = rest[start..].find('>').expect("an unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "a `<` inside a tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("a tag name");
                stack.push(name.to_string());
            }
            rest = &rest[end + 1..];
        }
        assert_text(rest);
        assert!(stack.is_empty(), "unclosed tags {stack:?}");
        assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    fn assert_text(text: &str) {
        assert!(!text.contains('>'), "a raw `>` in text: {text}");
        for (index, _) in text.match_indices('&') {
            let entity = &text[index..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|known| entity.starts_with(known)),
                "a bare `&` in text: {text}"
            );
        }
    }
}
