//! Human-readable reports: the end-of-run summary table and `coordinator status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use queue::Queue;
use shared::counters::Counters;
use shared::jobs::{
    run_queue, MapOutcome, QuarantineRecord, RunLayout, FINALISE_QUEUE, MAP_QUEUE, PARTITION_GPU_QUEUE, PARTITION_QUEUE,
};
use storage::{get_json, ObjectStore};

use crate::commit::manifest_key;
use crate::pipeline::RunReport;
use crate::plan::RunPlan;

/// Groups digits: 1234567 -> "1,234,567".
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, character) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(character);
    }
    out
}

pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Absolute 1-based line numbers for quarantine records: a range's lines are counted from
/// its start, so add the lines of the object's earlier ranges.
pub fn absolute_line(outcomes: &[MapOutcome], record: &QuarantineRecord) -> u64 {
    let earlier: u64 = outcomes
        .iter()
        .filter(|outcome| outcome.object == record.object && outcome.start < record.range_start)
        .map(|outcome| outcome.lines)
        .sum();
    earlier + record.line_in_range
}

/// Reads up to `limit` quarantined rows, with absolute line numbers.
pub async fn quarantine_samples(
    store: &dyn ObjectStore,
    outcomes: &[MapOutcome],
    limit: usize,
) -> anyhow::Result<Vec<(QuarantineRecord, u64)>> {
    let mut samples = Vec::new();
    for outcome in outcomes {
        for key in &outcome.quarantine_keys {
            if samples.len() >= limit {
                return Ok(samples);
            }
            let compressed = store.get(key).await?;
            let plain = zstd::stream::decode_all(&compressed[..]).with_context(|| format!("decompressing {key}"))?;
            for line in plain.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
                if samples.len() >= limit {
                    break;
                }
                let record: QuarantineRecord =
                    serde_json::from_slice(line).with_context(|| format!("reading quarantine record in {key}"))?;
                let line_number = absolute_line(outcomes, &record);
                samples.push((record, line_number));
            }
        }
    }
    Ok(samples)
}

/// One labelled, right-aligned line of the summary table.
fn row(out: &mut String, label: &str, value: String) {
    let _ = writeln!(out, "  {label:<28} {value:>14}");
}

fn reason_rows(out: &mut String, title: &str, counts: &BTreeMap<String, u64>) {
    let total: u64 = counts.values().sum();
    row(out, title, thousands(total));
    for (reason, count) in counts {
        let _ = writeln!(out, "    {reason:<26} {:>14}", thousands(*count));
    }
}

/// The table printed at the end of a run.
pub fn render_summary(report: &RunReport, samples: &[(QuarantineRecord, u64)]) -> String {
    let counters: &Counters = &report.counters;
    let manifest = &report.commit.manifest;
    let full = manifest.variants.get("full");
    let shard_bytes: u64 = full
        .map(|variant| variant.shards.iter().map(|shard| shard.bytes).sum())
        .unwrap_or(0);
    let shard_count = full.map(|variant| variant.shards.len()).unwrap_or(0);
    let input_bytes: u64 = report.plan.inputs.iter().map(|object| object.size).sum();
    let seconds = report.elapsed.as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "release {} (run {}{})",
        manifest.version,
        report.plan.run_id,
        if report.resumed { ", resumed" } else { "" }
    );
    row(&mut out, "input objects", thousands(report.plan.inputs.len() as u64));
    row(&mut out, "input size", mebibytes(input_bytes));
    row(&mut out, "map jobs", thousands(report.plan.map_jobs.len() as u64));
    row(&mut out, "lines read", thousands(counters.get("lines_read")));
    row(&mut out, "rows accepted", thousands(counters.get("rows_read")));
    row(&mut out, "blank lines skipped", thousands(counters.get("blank_lines")));
    row(
        &mut out,
        "lone surrogates dropped",
        thousands(counters.get("lone_surrogates_dropped")),
    );
    reason_rows(&mut out, "rows quarantined", &counters.group("quarantined"));
    reason_rows(&mut out, "chains dropped", &counters.group("chains_dropped"));
    reason_rows(&mut out, "rows in dropped chains", &counters.group("rows_dropped"));
    row(&mut out, "conversations", thousands(counters.get("conversations")));
    row(&mut out, "turns", thousands(counters.get("turns")));
    reason_rows(&mut out, "user turns without a place", &counters.group("geoip"));
    let work = &report.work;
    if work.get("toxicity.texts_scored") + work.get("toxicity.cache_hits") > 0 {
        row(&mut out, "toxic turns", thousands(counters.get("toxic_turns")));
        row(
            &mut out,
            "toxic conversations",
            thousands(counters.get("toxic_conversations")),
        );
        row(
            &mut out,
            "toxicity: texts scored",
            thousands(work.get("toxicity.texts_scored")),
        );
        row(
            &mut out,
            "toxicity: cache hits",
            thousands(work.get("toxicity.cache_hits")),
        );
        if work.get("toxicity.split_texts") > 0 {
            row(
                &mut out,
                "toxicity: split in windows",
                thousands(work.get("toxicity.split_texts")),
            );
        }
    }
    row(&mut out, "redacted turns", thousands(counters.get("redacted_turns")));
    row(
        &mut out,
        "redacted conversations",
        thousands(counters.get("redacted_conversations")),
    );
    reason_rows(&mut out, "pii replaced", &counters.group("pii_redacted"));
    reason_rows(&mut out, "secrets replaced", &counters.group("secrets_redacted"));
    row(&mut out, "shards (full)", thousands(shard_count as u64));
    row(&mut out, "job retries (queue)", thousands(report.queue_retries));
    if report.jobs_requeued > 0 {
        row(&mut out, "jobs re-enqueued (lost)", thousands(report.jobs_requeued));
    }
    row(&mut out, "release size", mebibytes(shard_bytes));
    let _ = writeln!(out, "  {:<28} {:>13.1}s", "elapsed", seconds);
    for (phase, took) in &report.phase_times {
        let _ = writeln!(out, "    {phase:<26} {:>13.1}s", took.as_secs_f64());
    }
    row(
        &mut out,
        "throughput (lines/s)",
        thousands((counters.get("lines_read") as f64 / seconds.max(1e-3)) as u64),
    );
    if !samples.is_empty() {
        let _ = writeln!(out, "  first quarantined rows:");
        for (record, line) in samples {
            let mut detail = record.detail.clone();
            if detail.len() > 100 {
                let mut cut = 100;
                while !detail.is_char_boundary(cut) {
                    cut -= 1;
                }
                detail.truncate(cut);
                detail.push('…');
            }
            let _ = writeln!(
                out,
                "    {} line {}: {} ({})",
                record.object, line, record.reason, detail
            );
        }
    }
    out
}

/// `coordinator status`: every run, or one run's progress, read from the store alone.
pub async fn render_status(store: &dyn ObjectStore, run_id: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    let Some(run_id) = run_id else {
        let plans: Vec<String> = store
            .list("runs/")
            .await?
            .into_iter()
            .filter(|object| object.key.ends_with("/plan.json") && object.key.matches('/').count() == 2)
            .map(|object| object.key)
            .collect();
        if plans.is_empty() {
            let _ = writeln!(out, "no runs in {}", store.describe());
        }
        for plan_key in plans {
            let plan: RunPlan = get_json(store, &plan_key).await?;
            let committed = store.head(&manifest_key(&plan.version)).await?.is_some();
            let _ = writeln!(
                out,
                "{:<32} version {:<24} {}",
                plan.run_id,
                plan.version,
                if committed {
                    "committed"
                } else {
                    "in progress or stopped"
                }
            );
        }
        return Ok(out);
    };
    let layout = RunLayout::new(run_id);
    if store.head(&layout.plan()).await?.is_none() {
        anyhow::bail!("no run {run_id} in {}", store.describe());
    }
    let plan: RunPlan = get_json(store, &layout.plan()).await?;
    let objects = store.list(&layout.prefix()).await?;
    let maps_done = objects
        .iter()
        .filter(|object| {
            object.key.starts_with(&format!("{}map/", layout.prefix())) && object.key.ends_with("/_SUCCESS.json")
        })
        .count();
    let markers_under = |folder: &str| {
        objects
            .iter()
            .filter(|object| {
                // Completion markers are `pNNNNN.json`; statistics partials sit beside them.
                object
                    .key
                    .strip_prefix(&format!("{}{folder}/", layout.prefix()))
                    .is_some_and(|name| name.ends_with(".json") && name.matches('.').count() == 1)
            })
            .count()
    };
    let partitions_done = markers_under("partitions");
    let finalised = markers_under("shards");
    let committed = store.head(&manifest_key(&plan.version)).await?.is_some();
    let phase = if committed {
        "committed"
    } else if finalised > 0 || partitions_done == plan.config.partitions as usize {
        "finalising"
    } else if partitions_done > 0 || maps_done == plan.map_jobs.len() {
        "analysing"
    } else if maps_done > 0 {
        "mapping"
    } else {
        "planned"
    };
    let _ = writeln!(
        out,
        "run {} (version {}) planned {}",
        plan.run_id, plan.version, plan.created_at
    );
    let _ = writeln!(out, "  phase       {phase}");
    if committed && maps_done + partitions_done + finalised == 0 {
        let _ = writeln!(
            out,
            "  jobs        all done; the private intermediates and job markers were deleted after the commit"
        );
    } else {
        let _ = writeln!(out, "  map jobs    {maps_done}/{}", plan.map_jobs.len());
        let _ = writeln!(out, "  analysed    {partitions_done}/{}", plan.config.partitions);
        let _ = writeln!(out, "  finalised   {finalised}/{}", plan.config.partitions);
    }
    let _ = writeln!(out, "  inputs      {} objects", plan.inputs.len());
    if committed {
        let _ = writeln!(out, "  release     {}", manifest_key(&plan.version));
    }
    Ok(out)
}

/// `coordinator status --queue URI`: the live state a shared queue holds: the runs
/// coordinators announce, and for one run the depth, retries and dead letters of its queues.
pub async fn render_queue_status(queue: &dyn Queue, location: &str, run_id: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0);
    let runs = queue.active_runs().await.context("reading the announced runs")?;
    let _ = writeln!(out, "queue {location}");
    let announced: Vec<_> = runs
        .iter()
        .filter(|run| run_id.is_none_or(|wanted| run.run_id == wanted))
        .collect();
    if announced.is_empty() {
        let _ = writeln!(
            out,
            "  no coordinator announces {} there now",
            run_id.map_or("any run".to_string(), |id| format!("run {id}"))
        );
    }
    for run in announced {
        let _ = writeln!(
            out,
            "  run {} (version {}): phase {}, jobs {}/{}, announced {:.0}s ago",
            run.run_id,
            run.version,
            run.phase,
            run.jobs_done,
            run.jobs_total,
            now_ms.saturating_sub(run.updated_ms) as f64 / 1000.0
        );
        let reports = queue
            .mismatches(&run.run_id)
            .await
            .with_context(|| format!("reading the mismatch reports of run {}", run.run_id))?;
        let current: Vec<_> = reports.iter().filter(|report| report.is_current(now_ms)).collect();
        if !current.is_empty() {
            let _ = writeln!(
                out,
                "    mismatched workers: {} leave this run alone, their fingerprint differs",
                current.len()
            );
        }
        for report in current {
            let _ = writeln!(
                out,
                "    mismatched worker {}: {} (reported {:.0}s ago)",
                report.worker,
                report.components.join(", "),
                now_ms.saturating_sub(report.updated_ms) as f64 / 1000.0
            );
        }
    }
    let Some(run_id) = run_id else {
        return Ok(out);
    };
    for (label, kind) in [
        ("map", MAP_QUEUE),
        ("analyse", PARTITION_QUEUE),
        ("analyse-gpu", PARTITION_GPU_QUEUE),
        ("finalise", FINALISE_QUEUE),
    ] {
        let name = run_queue(run_id, kind);
        let stats = queue
            .stats(&name)
            .await
            .with_context(|| format!("reading queue {name}"))?;
        let _ = writeln!(
            out,
            "  {label:<11} queue  waiting {} | leased {} | completed {} | retries {} | dead letters {}",
            stats.waiting, stats.leased, stats.completed, stats.retries, stats.dead
        );
        if stats.dead > 0 {
            for letter in queue.dead_letters(&name).await? {
                let _ = writeln!(
                    out,
                    "    dead: {label} job {} after {} attempts: {}",
                    letter.job_id, letter.attempts, letter.last_error
                );
            }
        }
    }
    Ok(out)
}

/// What became of the generated data's planted PII in release `version`, per entity type:
/// (type, planted real values released, of those no longer in the text, placeholder values
/// released, of those still in the text).
pub async fn planted_pii_outcome(
    store: &dyn ObjectStore,
    version: &str,
) -> anyhow::Result<Vec<(String, u64, u64, u64, u64)>> {
    use std::collections::{BTreeMap, HashMap};
    use std::io::BufRead;

    let truth = store
        .get(generator::PLANTED_TRUTH_KEY)
        .await
        .context("reading the planted ground truth")?;
    let plain = zstd::stream::decode_all(truth.as_ref()).context("decompressing the planted ground truth")?;
    // (turn, role) -> [(entity, value, placeholder)]
    type PlantedValues = Vec<(String, String, bool)>;
    let mut planted: HashMap<(i64, String), PlantedValues> = HashMap::new();
    for line in plain.lines() {
        let record: serde_json::Value = serde_json::from_str(&line?).context("a planted truth line")?;
        if record["kind"] == "pii" {
            let identifier = record["turn_identifier"].as_i64().context("planted turn_identifier")?;
            let role = record["role"].as_str().context("planted role")?.to_string();
            let entity = record["entity"].as_str().context("planted entity")?.to_string();
            let value = record["value"].as_str().context("planted value")?.to_string();
            let placeholder = record["placeholder"].as_bool().unwrap_or(false);
            planted
                .entry((identifier, role))
                .or_default()
                .push((entity, value, placeholder));
        }
    }
    let mut by_type: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for object in store.list(&format!("releases/{version}/full/")).await? {
        if !object.key.ends_with(".parquet") {
            continue;
        }
        let shard = store.get(&object.key).await?;
        for turn in release::record::read_turn_flags(shard).with_context(|| format!("reading {}", object.key))? {
            let Some(values) = planted.get(&(turn.turn_identifier, turn.role.clone())) else {
                continue;
            };
            for (entity, value, placeholder) in values {
                let entry = by_type.entry(entity.clone()).or_default();
                let present = turn.content.contains(value.as_str());
                if *placeholder {
                    entry.2 += 1;
                    entry.3 += u64::from(present);
                } else {
                    entry.0 += 1;
                    entry.1 += u64::from(!present);
                }
            }
        }
    }
    Ok(by_type
        .into_iter()
        .map(|(entity, (real, removed, placeholders, kept))| (entity, real, removed, placeholders, kept))
        .collect())
}

/// How many of the generated data's planted toxic turns (`truth/planted.jsonl.zst`) the
/// release `version` flags `toxic`: (flagged, planted and released).
/// Of release `version`'s turns (`full`): (planted toxic turns flagged, planted toxic turns
/// released, turns flagged, turns).
pub async fn planted_toxic_recall(store: &dyn ObjectStore, version: &str) -> anyhow::Result<(u64, u64, u64, u64)> {
    use std::collections::HashSet;
    use std::io::BufRead;

    let truth = store
        .get(generator::PLANTED_TRUTH_KEY)
        .await
        .context("reading the planted ground truth")?;
    let plain = zstd::stream::decode_all(truth.as_ref()).context("decompressing the planted ground truth")?;
    let mut planted: HashSet<(i64, String)> = HashSet::new();
    for line in plain.lines() {
        let record: serde_json::Value = serde_json::from_str(&line?).context("a planted truth line")?;
        if record["kind"] == "toxic" {
            let identifier = record["turn_identifier"].as_i64().context("planted turn_identifier")?;
            let role = record["role"].as_str().context("planted role")?.to_string();
            planted.insert((identifier, role));
        }
    }
    let (mut flagged, mut released, mut flagged_all, mut turns) = (0u64, 0u64, 0u64, 0u64);
    for object in store.list(&format!("releases/{version}/full/")).await? {
        if !object.key.ends_with(".parquet") {
            continue;
        }
        let shard = store.get(&object.key).await?;
        for turn in release::record::read_turn_flags(shard).with_context(|| format!("reading {}", object.key))? {
            turns += 1;
            flagged_all += u64::from(turn.toxic == Some(true));
            if planted.contains(&(turn.turn_identifier, turn.role)) {
                released += 1;
                flagged += u64::from(turn.toxic == Some(true));
            }
        }
    }
    Ok((flagged, released, flagged_all, turns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_lines_are_absolute_across_byte_ranges() {
        let outcome = |object: &str, start: u64, lines: u64| MapOutcome {
            job_id: format!("{object}-{start}"),
            object: object.to_string(),
            start,
            lines,
            counters: Counters::default(),
            fragments: Vec::new(),
            quarantine_keys: Vec::new(),
        };
        let outcomes = vec![
            outcome("a", 0, 10),
            outcome("a", 100, 7),
            outcome("a", 200, 5),
            outcome("b", 0, 99),
        ];
        let record = QuarantineRecord {
            object: "a".into(),
            range_start: 200,
            line_in_range: 3,
            byte_offset: 250,
            reason: "invalid_json".into(),
            detail: String::new(),
            byte_length: 0,
        };
        assert_eq!(absolute_line(&outcomes, &record), 20);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
