//! The release's Hugging Face dataset card (`README.md`): YAML front matter with one config per
//! variant and the schema's features, then the statistics tables and charts. The card is a pure
//! function of the manifest and the merged statistics, so the same release renders the same
//! bytes, and every number in it is printed from [`ReleaseStats`] with one rule: integers as
//! they are, means, standard deviations and percentages with exactly two decimals (the values
//! are already rounded to two decimals, see [`crate::stats`]).

mod charts;
mod front_matter;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_schema::{DataType, Fields, TimeUnit};
use serde_json::Value;

pub use charts::{render_charts, xml_escape, TOP_ROWS};
pub use front_matter::size_category;
use front_matter::*;

use crate::manifest::{Manifest, VARIANTS};
use crate::record::release_schema;
use crate::stats::{ReleaseStats, Share};

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

/// How the release was processed, from the run fingerprint every worker of the run matched.
fn processing_section(out: &mut String, manifest: &Manifest) {
    let Some(fingerprint) = &manifest.fingerprint else {
        return;
    };
    let resources = &fingerprint.resources;
    out.push_str("## Processing settings\n\n");
    out.push_str(
        "Every worker of the run was checked against these settings before it processed any of the run's data.\n\n",
    );
    table_header(out, "Component", &["Used".to_string()], false);
    table_row(
        out,
        "IP salt",
        &[format!(
            "key id {}: `hashed_ip` values compare only between releases with the same key id",
            code(&resources.salt_key_id)
        )],
    );
    let geoip = if resources.geoip.is_empty() {
        "none: `country` and `state` are null".to_string()
    } else {
        resources
            .geoip
            .iter()
            .map(|database| {
                format!(
                    "{} from {} (sha256 {})",
                    code(&database.name),
                    md(&database.date),
                    code(&database.sha256)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    table_row(out, "GeoIP databases", &[geoip]);
    let toxicity = if resources.toxicity.routes.is_empty() {
        format!(
            "{}{}; a turn is flagged above {}",
            code(&resources.toxicity.model),
            trained_on(&resources.toxicity.trained_on),
            resources.toxicity.threshold
        )
    } else {
        format!(
            "{}, by the turn's language label: {}",
            code(&resources.toxicity.model),
            describe_routes(&resources.toxicity)
        )
    };
    table_row(out, "Toxicity model", &[toxicity]);
    let moderation = if resources.moderation == "none" {
        "none: `openai_moderation` is null".to_string()
    } else {
        code(&resources.moderation)
    };
    table_row(out, "Moderation", &[moderation]);
    let policy = &fingerprint.pii_policy;
    let mut pii = format!("{} policy", code(&format!("{:?}", policy.policy).to_lowercase()));
    if !policy.types.is_empty() {
        let _ = write!(pii, ", types {}", md(&policy.types.join(", ")));
    }
    let _ = write!(
        pii,
        ", operator {}",
        code(&format!("{:?}", policy.operator).to_lowercase())
    );
    table_row(out, "PII redaction", &[pii]);
    let ner = resources
        .pii_ner
        .as_deref()
        .map_or("none (rule recognizers only)".to_string(), code);
    table_row(out, "PII NER model", &[ner]);
    table_row(out, "Language detector", &[md(&resources.language_detector)]);
    out.push('\n');
}

/// A routed toxicity model's routes: `turns labelled English: `m` above 0.2; every other
/// language: `n` above 0.7`.
fn describe_routes(toxicity: &shared::fingerprint::ToxicityFingerprint) -> String {
    toxicity
        .routes
        .iter()
        .map(|route| {
            let which = if route.languages.is_empty() {
                "every other language".to_string()
            } else {
                format!("turns labelled {}", md(&route.languages.join(", ")))
            };
            format!(
                "{which}: {}{} above {}",
                code(&route.model),
                trained_on(&route.trained_on),
                route.threshold
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The toxicity model's development-data figures: measured on labelled sets before the run, not
/// on this release.
fn model_quality_table(out: &mut String, quality: &shared::fingerprint::ModelQuality) {
    let _ = writeln!(
        out,
        "Quality of the toxicity model on labelled development data (rows it was never trained on; measured for {} by {}, not on this release). Precision, recall and false-positive rate are at the model's threshold; sets without toxic rows are benign text, where the false-positive rate is the share flagged.\n",
        code(&quality.model),
        code(&quality.measured_by)
    );
    table_header_aligned(
        out,
        "Set",
        &[
            ("Language", false),
            ("Rows", true),
            ("Toxic", true),
            ("ROC-AUC", true),
            ("Precision", true),
            ("Recall", true),
            ("False-positive rate", true),
        ],
    );
    let figure = |value: Option<f64>| value.map_or("–".to_string(), |value| format!("{value:.3}"));
    for row in &quality.rows {
        table_row(
            out,
            &md(&row.set),
            &[
                md(&row.language),
                row.rows.to_string(),
                row.toxic.to_string(),
                figure(row.roc_auc),
                figure(row.precision),
                figure(row.recall),
                figure(row.false_positive_rate),
            ],
        );
    }
    out.push('\n');
}

/// ` (trained on English, German)`, or nothing when the model's config does not say.
fn trained_on(languages: &[String]) -> String {
    if languages.is_empty() {
        String::new()
    } else {
        format!(" (trained on {})", md(&languages.join(", ")))
    }
}

fn configurations_section(out: &mut String, input: &CardInput) {
    out.push_str("## Configurations\n\n");
    let moderation = input
        .manifest
        .fingerprint
        .as_ref()
        .map(|fingerprint| fingerprint.resources.moderation.as_str());
    match moderation {
        Some("none") => out.push_str(
            "No moderation source ran (`openai_moderation` is null), so no conversation was left out for a \
             `sexual/minors` flag; `full` holds every conversation and `nontoxic` leaves out the toxic ones.\n\n",
        ),
        _ => {
            let excluded = input.manifest.counters["excluded"]["sexual_minors"]
                .as_u64()
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "Conversations with any turn the moderation source flagged `sexual/minors` are left out of every \
                 configuration ({excluded} in this run); `full` holds all the others and `nontoxic` leaves out \
                 the toxic conversations as well.\n"
            );
        }
    }
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
    let rule = match &input.manifest.fingerprint {
        Some(fingerprint) => {
            let moderation = if fingerprint.resources.moderation == "none" {
                String::new()
            } else {
                format!(
                    "flagged by moderation ({}) or ",
                    code(&fingerprint.resources.moderation)
                )
            };
            let toxicity = &fingerprint.resources.toxicity;
            if toxicity.routes.is_empty() {
                format!(
                    "A turn is toxic when it is non-empty and {moderation}its `toxicity` score from {} is above {}",
                    code(&toxicity.model),
                    toxicity.threshold
                )
            } else {
                format!(
                    "A turn is toxic when it is non-empty and {moderation}its `toxicity` score from the model for its \
                     language is above that model's threshold ({})",
                    describe_routes(toxicity)
                )
            }
        }
        None => "A turn is toxic when it is flagged by moderation or its toxicity score is above the model's threshold"
            .to_string(),
    };
    let _ = writeln!(out, "{rule}; a conversation is toxic when any of its turns is.\n");
    if let Some(quality) = input
        .manifest
        .fingerprint
        .as_ref()
        .and_then(|fingerprint| fingerprint.resources.toxicity.quality.as_ref())
    {
        model_quality_table(out, quality);
    }
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
    processing_section(&mut out, input.manifest);
    configurations_section(&mut out, input);
    statistics_section(&mut out, input);
    counters_section(&mut out, &input.manifest.counters);
    out
}

#[cfg(test)]
mod tests;
