//! Deterministic synthetic generator of WildChat-shaped raw request logs, with the exact
//! outcome the linking pipeline must reach on them (expected conversations, planted PII and
//! toxic turns, quarantine counts), so the pipeline can be tested end to end.

mod encode;
mod languages;
mod network;
mod plan;
mod render;
mod text;

#[cfg(test)]
mod reference_linker;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{ensure, Context as _};
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use languages::LANGUAGES;
use plan::{domain, plan_unit, PlanContext, NO_CONVERSATION};
use render::{Defect, LineKind, LineMeta, ObjectRenderer, PlantedRecord};
use text::Planted;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Conversation units to plan; scenarios make the expected conversation count differ.
    pub conversations: u64,
    pub seed: u64,
    /// Raw objects to split the lines into; None = max(3, ceil(lines / 50 000)).
    pub objects: Option<usize>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Every object key, raw parts first, then the truth files.
    pub objects: Vec<String>,
    /// Valid rows (including those in chains the linker drops).
    pub rows_written: u64,
    /// All lines, malformed ones included.
    pub lines_written: u64,
    pub expected_conversations: u64,
    /// Rows over all expected conversations.
    pub expected_turns: u64,
}

/// First id handed out; ids follow the global (date, position) order.
const ID_BASE: u64 = 1_000_000;
/// Share of all lines that are standalone malformed lines.
const MALFORMED_LINE_SHARE: f64 = 0.005;
const DEFAULT_LINES_PER_OBJECT: u64 = 50_000;
const GZIP_LEVEL: u32 = 1;
const ZSTD_LEVEL: i32 = 3;

pub const CONVERSATIONS_TRUTH_KEY: &str = "truth/conversations.jsonl.zst";
pub const PLANTED_TRUTH_KEY: &str = "truth/planted.jsonl.zst";
pub const SUMMARY_TRUTH_KEY: &str = "truth/summary.json";

/// The per-unit facts the truth needs, kept after the plans themselves are dropped.
struct UnitFacts {
    language: u8,
    is_gpt4: bool,
    dated_model: &'static str,
    scenario: &'static str,
    dropped_rows: u32,
    dropped_chains: u32,
}

/// One expected conversation: a run of `members` (sorted by unit, slot, id).
struct ExpectedConversation {
    first_id: u64,
    unit: u32,
    start: usize,
    len: usize,
}

enum ObjectWriter {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl ObjectWriter {
    fn for_key(key: &str) -> anyhow::Result<ObjectWriter> {
        Ok(if key.ends_with(".gz") {
            ObjectWriter::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            ))
        } else if key.ends_with(".zst") {
            ObjectWriter::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).context("starting zstd encoder")?,
            )
        } else {
            ObjectWriter::Plain(Vec::new())
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            ObjectWriter::Plain(buffer) => buffer.write_all(bytes),
            ObjectWriter::Gzip(encoder) => encoder.write_all(bytes),
            ObjectWriter::Zstd(encoder) => encoder.write_all(bytes),
        }
    }

    fn finish(self) -> anyhow::Result<Vec<u8>> {
        match self {
            ObjectWriter::Plain(buffer) => Ok(buffer),
            ObjectWriter::Gzip(encoder) => encoder.finish().context("finishing gzip stream"),
            ObjectWriter::Zstd(encoder) => encoder.finish().context("finishing zstd stream"),
        }
    }
}

fn raw_object_key(index: usize) -> String {
    let extension = match index % 3 {
        0 => "jsonl",
        1 => "jsonl.gz",
        _ => "jsonl.zst",
    };
    format!("raw/part-{index:05}.{extension}")
}

fn draw_malformed_line(context: &PlanContext, index: u32) -> LineMeta {
    let mut rng = context.rng(domain::MALFORMED_PLAN, u64::from(index), 0);
    let micros = rng.random_range(context.range_start_micros..context.range_end_micros);
    let defect = Defect::ALL[network::pick_weighted(&mut rng, &Defect::ALL, |defect| defect.weight())];
    LineMeta {
        micros,
        source: index,
        row_index: 0,
        kind: LineKind::Malformed(defect),
        conversation_slot: NO_CONVERSATION,
    }
}

#[derive(Serialize)]
struct ConversationTruthLine<'a> {
    turn_identifiers: Vec<u64>,
    model: &'a str,
    language: &'a str,
}

fn planted_json(record: &PlantedRecord) -> serde_json::Value {
    match &record.planted {
        Planted::Pii {
            entity,
            value,
            start,
            end,
            placeholder,
        } => serde_json::json!({
            "turn_identifier": record.turn_identifier,
            "role": record.role.as_str(),
            "kind": "pii",
            "entity": entity,
            "value": value,
            "start": start,
            "end": end,
            "placeholder": placeholder,
        }),
        Planted::Toxic { phrase } => serde_json::json!({
            "turn_identifier": record.turn_identifier,
            "role": record.role.as_str(),
            "kind": "toxic",
            "phrase": phrase,
        }),
    }
}

fn zstd_lines(lines: impl Iterator<Item = anyhow::Result<String>>) -> anyhow::Result<Vec<u8>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).context("starting zstd encoder")?;
    for line in lines {
        let mut line = line?;
        line.push('\n');
        encoder.write_all(line.as_bytes()).context("compressing truth line")?;
    }
    encoder.finish().context("finishing zstd stream")
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Rounds for the summary, so it stays readable.
fn rounded(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Generates the raw objects and the truth files, handing each to `sink(key, bytes)` (which
/// may be called from several threads at once); `on_progress(done, total)` follows objects.
pub fn generate(
    options: &GenerateOptions,
    sink: &(dyn Fn(&str, Vec<u8>) -> anyhow::Result<()> + Sync),
    on_progress: &(dyn Fn(usize, usize) + Sync),
) -> anyhow::Result<GenerateSummary> {
    // Unit indices must fit the 31 bits the reply uniqueness code reserves for them.
    ensure!(options.conversations < (1 << 31), "at most 2^31 - 1 conversations");
    let context = PlanContext::new(options.seed, options.conversations);
    let units = options.conversations as u32;

    // Pass 1: plan every unit, keeping only compact per-row metadata.
    let planned: Vec<(UnitFacts, Vec<LineMeta>)> = (0..units)
        .into_par_iter()
        .map(|unit| {
            let plan = plan_unit(&context, unit);
            let (dropped_rows, dropped_chains) = plan.dropped();
            let lines = plan
                .rows
                .iter()
                .enumerate()
                .map(|(row_index, row)| LineMeta {
                    micros: row.micros,
                    source: unit,
                    row_index: row_index as u16,
                    kind: LineKind::Row,
                    conversation_slot: row.conversation_slot,
                })
                .collect();
            let facts = UnitFacts {
                language: plan.language as u8,
                is_gpt4: plan.is_gpt4,
                dated_model: plan.dated_model,
                scenario: plan.scenario.name(),
                dropped_rows,
                dropped_chains,
            };
            (facts, lines)
        })
        .collect();
    let rows_written: u64 = planned.iter().map(|(_, lines)| lines.len() as u64).sum();
    let malformed_count = (rows_written as f64 * MALFORMED_LINE_SHARE / (1.0 - MALFORMED_LINE_SHARE)).round() as u32;
    let mut lines: Vec<LineMeta> = Vec::with_capacity(rows_written as usize + malformed_count as usize);
    let mut facts: Vec<UnitFacts> = Vec::with_capacity(planned.len());
    for (unit_facts, unit_lines) in planned {
        facts.push(unit_facts);
        lines.extend(unit_lines);
    }
    lines.par_extend(
        (0..malformed_count)
            .into_par_iter()
            .map(|index| draw_malformed_line(&context, index)),
    );
    // Ids follow time over the whole dataset; the key is unique, so the order is fixed.
    lines.par_sort_unstable_by_key(LineMeta::order_key);
    let lines_written = lines.len() as u64;

    // The expected conversations: kept rows grouped by (unit, slot), ordered by first id.
    let mut members: Vec<(u32, u8, u64)> = lines
        .par_iter()
        .enumerate()
        .filter(|(_, line)| line.kind == LineKind::Row && line.conversation_slot != NO_CONVERSATION)
        .map(|(position, line)| (line.source, line.conversation_slot, ID_BASE + position as u64))
        .collect();
    members.par_sort_unstable();
    let mut conversations: Vec<ExpectedConversation> = Vec::new();
    let mut start = 0;
    while start < members.len() {
        let (unit, slot, first_id) = members[start];
        let mut end = start + 1;
        while end < members.len() && members[end].0 == unit && members[end].1 == slot {
            end += 1;
        }
        conversations.push(ExpectedConversation {
            first_id,
            unit,
            start,
            len: end - start,
        });
        start = end;
    }
    conversations.par_sort_unstable_by_key(|conversation| conversation.first_id);

    // Pass 2: render the raw objects in parallel, each from its own id range.
    let object_count = match options.objects {
        Some(count) => count.max(1),
        None => (lines_written.div_ceil(DEFAULT_LINES_PER_OBJECT) as usize).max(3),
    };
    let total_progress = object_count + 3;
    let done = AtomicUsize::new(0);
    let bounds: Vec<usize> = (0..=object_count)
        .map(|index| (lines.len() as u128 * index as u128 / object_count as u128) as usize)
        .collect();
    let reports: Vec<render::ObjectReport> = (0..object_count)
        .into_par_iter()
        .map(|object_index| -> anyhow::Result<render::ObjectReport> {
            let key = raw_object_key(object_index);
            let object_lines = &lines[bounds[object_index]..bounds[object_index + 1]];
            let mut renderer = ObjectRenderer::new(&context, object_lines);
            let mut writer = ObjectWriter::for_key(&key)?;
            let mut buffer = String::with_capacity(64 * 1024);
            for (offset, line) in object_lines.iter().enumerate() {
                buffer.clear();
                let id = ID_BASE + (bounds[object_index] + offset) as u64;
                renderer.render_line(line, id, &mut buffer);
                buffer.push('\n');
                writer
                    .write_all(buffer.as_bytes())
                    .with_context(|| format!("writing {key}"))?;
            }
            let bytes = writer.finish().with_context(|| format!("finishing {key}"))?;
            sink(&key, bytes).with_context(|| format!("storing {key}"))?;
            on_progress(done.fetch_add(1, Ordering::SeqCst) + 1, total_progress);
            Ok(renderer.report)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut object_keys: Vec<String> = (0..object_count).map(raw_object_key).collect();

    // Truth: expected conversations.
    let conversation_bytes = zstd_lines(conversations.iter().map(|conversation| {
        let unit_facts = &facts[conversation.unit as usize];
        let line = ConversationTruthLine {
            turn_identifiers: members[conversation.start..conversation.start + conversation.len]
                .iter()
                .map(|member| member.2)
                .collect(),
            model: unit_facts.dated_model,
            language: LANGUAGES[usize::from(unit_facts.language)].name,
        };
        serde_json::to_string(&line).context("serialising conversation truth")
    }))?;
    sink(CONVERSATIONS_TRUTH_KEY, conversation_bytes).context("storing conversation truth")?;
    on_progress(done.fetch_add(1, Ordering::SeqCst) + 1, total_progress);

    // Truth: planted items, by turn.
    let mut user_tokens = 0u64;
    let mut user_messages = 0u64;
    let mut assistant_tokens = 0u64;
    let mut assistant_messages = 0u64;
    let mut planted: Vec<PlantedRecord> = Vec::new();
    for report in reports {
        user_tokens += report.user_tokens;
        user_messages += report.user_messages;
        assistant_tokens += report.assistant_tokens;
        assistant_messages += report.assistant_messages;
        planted.extend(report.planted);
    }
    planted.sort_by_key(|record| {
        let start = match &record.planted {
            Planted::Pii { start, .. } => *start,
            Planted::Toxic { .. } => usize::MAX,
        };
        (record.turn_identifier, record.role, start)
    });
    let planted_pii = planted
        .iter()
        .filter(|record| matches!(record.planted, Planted::Pii { .. }))
        .count();
    let planted_toxic = planted.len() - planted_pii;
    let planted_bytes = zstd_lines(
        planted
            .iter()
            .map(|record| serde_json::to_string(&planted_json(record)).context("serialising planted truth")),
    )?;
    sink(PLANTED_TRUTH_KEY, planted_bytes).context("storing planted truth")?;
    on_progress(done.fetch_add(1, Ordering::SeqCst) + 1, total_progress);

    // Truth: summary with the measured shares.
    let expected_conversations = conversations.len() as u64;
    let expected_turns = members.len() as u64;
    let mut quarantined: BTreeMap<&str, u64> = Defect::ALL.iter().map(|defect| (defect.name(), 0)).collect();
    for line in &lines {
        if let LineKind::Malformed(defect) = line.kind {
            *quarantined.entry(defect.name()).or_default() += 1;
        }
    }
    let chains_dropped: u64 = facts
        .iter()
        .map(|unit_facts| u64::from(unit_facts.dropped_chains))
        .sum();
    let rows_in_dropped_chains: u64 = facts.iter().map(|unit_facts| u64::from(unit_facts.dropped_rows)).sum();
    let mut scenarios: BTreeMap<&str, u64> = BTreeMap::new();
    for unit_facts in &facts {
        *scenarios.entry(unit_facts.scenario).or_default() += 1;
    }
    let mut language_counts = vec![0u64; LANGUAGES.len()];
    let mut gpt4_conversations = 0u64;
    let mut multi_turn = 0u64;
    let mut max_turns = 0usize;
    for conversation in &conversations {
        let unit_facts = &facts[conversation.unit as usize];
        language_counts[usize::from(unit_facts.language)] += 1;
        gpt4_conversations += u64::from(unit_facts.is_gpt4);
        multi_turn += u64::from(conversation.len > 1);
        max_turns = max_turns.max(conversation.len);
    }
    let mut language_order: Vec<usize> = (0..LANGUAGES.len()).collect();
    language_order.sort_by_key(|&index| (std::cmp::Reverse(language_counts[index]), index));
    let mut language_shares = serde_json::Map::new();
    for index in language_order {
        language_shares.insert(
            LANGUAGES[index].name.to_string(),
            serde_json::json!(rounded(share(language_counts[index], expected_conversations))),
        );
    }
    object_keys.extend([CONVERSATIONS_TRUTH_KEY, PLANTED_TRUTH_KEY, SUMMARY_TRUTH_KEY].map(String::from));
    let summary_json = serde_json::json!({
        "seed": options.seed,
        "conversations_requested": options.conversations,
        "expected_conversations": expected_conversations,
        "expected_turns": expected_turns,
        "rows_written": rows_written,
        "lines_written": lines_written,
        "quarantined": quarantined,
        "chains_dropped": {"missing_parent": chains_dropped},
        "rows_in_dropped_chains": rows_in_dropped_chains,
        "scenarios": scenarios,
        "planted": {"pii": planted_pii, "toxic": planted_toxic},
        "objects": object_keys,
        "shares": {
            "language": language_shares,
            "model": {
                "gpt-3.5-turbo": rounded(share(expected_conversations - gpt4_conversations, expected_conversations)),
                "gpt-4": rounded(share(gpt4_conversations, expected_conversations)),
            },
            "multi_turn": rounded(share(multi_turn, expected_conversations)),
            "mean_turns": rounded(share(expected_turns, expected_conversations)),
            "max_turns": max_turns,
            "mean_user_tokens": rounded(share(user_tokens, user_messages)),
            "mean_assistant_tokens": rounded(share(assistant_tokens, assistant_messages)),
        },
    });
    let mut summary_bytes = serde_json::to_vec_pretty(&summary_json).context("serialising summary")?;
    summary_bytes.push(b'\n');
    sink(SUMMARY_TRUTH_KEY, summary_bytes).context("storing summary")?;
    on_progress(done.fetch_add(1, Ordering::SeqCst) + 1, total_progress);

    Ok(GenerateSummary {
        objects: object_keys,
        rows_written,
        lines_written,
        expected_conversations,
        expected_turns,
    })
}
