//! VERIFY: re-reads every shard a manifest lists and checks it against the manifest and the
//! release schema, then runs a pluggable PII scanner over a deterministic sample of turns.
//! Problems are collected, not raised: the report lists everything wrong with a version.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::fmt;

use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use storage::{ObjectStore, StoreError};

use super::schema::schema_differences;
use super::shard::{
    bool_column, optional_i64, optional_str, read_batches, sha256_hex, shard_footer, string_column, Turns,
};
use crate::manifest::{manifest_key, read_manifest, release_prefix, VARIANTS};

/// Finds unredacted PII in a text and returns the kinds found (`EMAIL_ADDRESS`, ...), never the
/// text itself. It should report only what the release's redaction policy would have replaced.
/// It may borrow (a detector, a policy) for as long as the [`VerifyOptions`] that hold it.
pub type PiiScan<'a> = dyn Fn(&str) -> Vec<String> + Send + Sync + 'a;

/// Turns sampled for the PII scan unless the caller says otherwise.
pub const DEFAULT_PII_SAMPLE: usize = 1000;

pub struct VerifyOptions<'a> {
    /// At most this many user and assistant turns of the `full` variant go through the scanner.
    pub pii_sample: usize,
    /// None: no PII scan (the report says so).
    pub pii_scan: Option<&'a PiiScan<'a>>,
}

impl Default for VerifyOptions<'_> {
    fn default() -> Self {
        VerifyOptions {
            pii_sample: DEFAULT_PII_SAMPLE,
            pii_scan: None,
        }
    }
}

/// One thing wrong with a version: the object it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub key: String,
    pub what: String,
}

/// A sampled turn where the scanner found unredacted PII: where it is, never what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiFinding {
    pub shard: String,
    /// Row of the conversation in the shard (0-based).
    pub row: u64,
    /// Index of the turn in the conversation (0-based).
    pub turn: u64,
    pub role: Option<String>,
    pub turn_identifier: Option<i64>,
    /// Ready for an `amend` removal list.
    pub conversation_hash: Option<String>,
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiScanReport {
    pub turns_scanned: u64,
    /// Turns found with PII, per kind.
    pub kinds: BTreeMap<String, u64>,
    pub findings: Vec<PiiFinding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub version: String,
    pub shards_checked: u64,
    /// Rows decoded from the shards, all variants together.
    pub rows_checked: u64,
    pub problems: Vec<Problem>,
    /// None when no scanner was given or the sample size was 0.
    pub pii_scan: Option<PiiScanReport>,
}

impl VerifyReport {
    /// No problem and no PII finding: the version is what its manifest says it is.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.pii_scan.as_ref().is_none_or(|scan| scan.findings.is_empty())
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let findings = self.pii_scan.as_ref().map_or(0, |scan| scan.findings.len());
        if self.ok() {
            writeln!(formatter, "release {}: OK", self.version)?;
        } else {
            writeln!(
                formatter,
                "release {}: FAILED ({} problems, {} turns with unredacted pii)",
                self.version,
                self.problems.len(),
                findings
            )?;
        }
        writeln!(formatter, "  shards checked  {}", self.shards_checked)?;
        writeln!(formatter, "  rows checked    {}", self.rows_checked)?;
        match &self.pii_scan {
            None => writeln!(formatter, "  pii scan        not run")?,
            Some(scan) if scan.findings.is_empty() => writeln!(
                formatter,
                "  pii scan        {} sampled turns, no unredacted pii found",
                scan.turns_scanned
            )?,
            Some(scan) => {
                let kinds: Vec<String> = scan
                    .kinds
                    .iter()
                    .map(|(kind, turns)| format!("{kind} {turns}"))
                    .collect();
                writeln!(
                    formatter,
                    "  pii scan        {} sampled turns, {} with unredacted pii ({})",
                    scan.turns_scanned,
                    scan.findings.len(),
                    kinds.join(", ")
                )?;
                for finding in &scan.findings {
                    writeln!(
                        formatter,
                        "    {} row {} turn {} ({}, conversation {}): {}",
                        finding.shard,
                        finding.row,
                        finding.turn,
                        finding.role.as_deref().unwrap_or("no role"),
                        finding.conversation_hash.as_deref().unwrap_or("without hash"),
                        finding.kinds.join(", ")
                    )?;
                }
            }
        }
        if !self.problems.is_empty() {
            writeln!(formatter, "  problems")?;
            for problem in &self.problems {
                writeln!(formatter, "    {}: {}", problem.key, problem.what)?;
            }
        }
        Ok(())
    }
}

/// Checks a version against its manifest: every shard present, with the listed digest, size
/// and row count, readable, in the release schema; variant sums; `nontoxic` holds only
/// non-toxic conversations of `full`; statistics partials present; then the PII sample.
/// Errors only when the check itself cannot run (no such version, a failing store).
pub async fn verify(
    store: &dyn ObjectStore,
    version: &str,
    options: VerifyOptions<'_>,
) -> anyhow::Result<VerifyReport> {
    let manifest = read_manifest(store, version).await?;
    let manifest_key = manifest_key(version);
    let prefix = release_prefix(version);
    let mut problems: Vec<Problem> = Vec::new();
    let mut problem = |key: &str, what: String| {
        problems.push(Problem {
            key: key.to_string(),
            what,
        })
    };
    let mut shards_checked = 0u64;
    let mut rows_checked = 0u64;
    if manifest.version != version {
        problem(
            &manifest_key,
            format!("the manifest names version {}", manifest.version),
        );
    }
    for variant in VARIANTS {
        if !manifest.variants.contains_key(variant) {
            problem(&manifest_key, format!("variant {variant} is missing"));
        }
    }
    let scanning = options.pii_scan.is_some() && options.pii_sample > 0;
    // Variants in the card's order, so that `full` is read before `nontoxic` is compared with it.
    let mut variant_names: Vec<&String> = manifest.variants.keys().collect();
    variant_names.sort_by_key(|name| {
        VARIANTS
            .iter()
            .position(|known| known == name)
            .unwrap_or(VARIANTS.len())
    });

    let mut full_hashes: HashSet<String> = HashSet::new();
    let mut full_complete = true;
    let mut sample: Vec<SampledTurn> = Vec::new();
    for variant_name in variant_names {
        let variant = &manifest.variants[variant_name];
        let listed_rows: u64 = variant.shards.iter().map(|shard| shard.rows).sum();
        if listed_rows != variant.rows {
            problem(
                &manifest_key,
                format!(
                    "variant {variant_name} has {} rows but its shards list {listed_rows}",
                    variant.rows
                ),
            );
        }
        let is_full = variant_name == "full";
        let is_nontoxic = variant_name == "nontoxic";
        for entry in &variant.shards {
            shards_checked += 1;
            if !entry.key.starts_with(&prefix) {
                problem(&entry.key, format!("shard is outside the release's prefix {prefix}"));
            }
            if let Some(stats_key) = &entry.stats_key {
                if store.head(stats_key).await?.is_none() {
                    problem(stats_key, "statistics partial is missing".to_string());
                }
            }
            let body = match store.get(&entry.key).await {
                Ok(body) => body,
                Err(StoreError::NotFound { .. }) => {
                    problem(&entry.key, "shard is missing".to_string());
                    full_complete &= !is_full;
                    continue;
                }
                Err(error) => {
                    return Err(anyhow::Error::new(error).context(format!("reading shard {}", entry.key)));
                }
            };
            let digest = sha256_hex(&body);
            if digest != entry.sha256 {
                problem(
                    &entry.key,
                    format!("sha256 is {digest} but the manifest lists {}", entry.sha256),
                );
            }
            if body.len() as u64 != entry.bytes {
                problem(
                    &entry.key,
                    format!("size is {} bytes but the manifest lists {}", body.len(), entry.bytes),
                );
            }
            let key = entry.key.clone();
            let expected_rows = entry.rows;
            let sample_size = if is_full && scanning { options.pii_sample } else { 0 };
            let inspection =
                tokio::task::spawn_blocking(move || inspect_shard(&key, body, expected_rows, is_nontoxic, sample_size))
                    .await?;
            rows_checked += inspection.rows_decoded;
            for what in inspection.problems {
                problem(&entry.key, what);
            }
            if is_full {
                full_complete &= inspection.decoded;
                full_hashes.extend(inspection.hashes);
            } else if is_nontoxic && full_complete && manifest.variants.contains_key("full") {
                let strays = inspection
                    .hashes
                    .iter()
                    .filter(|hash| !full_hashes.contains(hash.as_str()))
                    .count();
                if strays > 0 {
                    problem(&entry.key, format!("{strays} rows are not in the full variant"));
                }
            }
            sample = merge_samples(sample, inspection.sample, options.pii_sample);
        }
    }
    let pii_scan = match options.pii_scan {
        Some(scan) if scanning => Some(scan_sample(scan, sample)),
        _ => None,
    };
    let report = VerifyReport {
        version: version.to_string(),
        shards_checked,
        rows_checked,
        problems,
        pii_scan,
    };
    tracing::info!(
        version,
        shards = report.shards_checked,
        rows = report.rows_checked,
        problems = report.problems.len(),
        "release verified"
    );
    Ok(report)
}

/// What reading one shard found.
struct ShardInspection {
    /// Whether every row was decoded (else its hashes are incomplete).
    decoded: bool,
    rows_decoded: u64,
    problems: Vec<String>,
    /// Conversation hashes of the rows that have one.
    hashes: Vec<String>,
    sample: Vec<SampledTurn>,
}

fn inspect_shard(key: &str, body: Bytes, expected_rows: u64, is_nontoxic: bool, sample_size: usize) -> ShardInspection {
    let mut inspection = ShardInspection {
        decoded: false,
        rows_decoded: 0,
        problems: Vec::new(),
        hashes: Vec::new(),
        sample: Vec::new(),
    };
    let (schema, footer_rows) = match shard_footer(body.clone()) {
        Ok(footer) => footer,
        Err(error) => {
            inspection
                .problems
                .push(format!("not a readable parquet file: {error}"));
            return inspection;
        }
    };
    if footer_rows != expected_rows {
        inspection.problems.push(format!(
            "holds {footer_rows} rows but the manifest lists {expected_rows}"
        ));
    }
    let differences = schema_differences(&schema);
    if !differences.is_empty() {
        inspection.problems.extend(
            differences
                .into_iter()
                .map(|difference| format!("schema: {difference}")),
        );
        return inspection;
    }
    let batches = match read_batches(body, None) {
        Ok(batches) => batches,
        Err(error) => {
            inspection.problems.push(format!("cannot be decoded: {error}"));
            return inspection;
        }
    };
    let mut row_offset = 0u64;
    let mut toxic_or_unknown = 0u64;
    let mut sampler = Sampler::new(sample_size);
    for batch in &batches {
        let read = (|| -> anyhow::Result<()> {
            let hashes = string_column(batch, "conversation_hash")?;
            for row in 0..batch.num_rows() {
                if hashes.is_valid(row) {
                    inspection.hashes.push(hashes.value(row).to_string());
                }
            }
            if is_nontoxic {
                let toxic = bool_column(batch, "toxic")?;
                toxic_or_unknown += (0..batch.num_rows())
                    .filter(|&row| !toxic.is_valid(row) || toxic.value(row))
                    .count() as u64;
            }
            if sample_size > 0 {
                sampler.add_batch(key, row_offset, batch)?;
            }
            Ok(())
        })();
        if let Err(error) = read {
            inspection.problems.push(format!("cannot be read: {error}"));
            return inspection;
        }
        row_offset += batch.num_rows() as u64;
    }
    inspection.decoded = true;
    inspection.rows_decoded = row_offset;
    if row_offset != footer_rows {
        inspection
            .problems
            .push(format!("decoded {row_offset} rows but its footer says {footer_rows}"));
    }
    if toxic_or_unknown > 0 {
        inspection.problems.push(format!(
            "{toxic_or_unknown} rows of the nontoxic variant are toxic or have no toxic flag"
        ));
    }
    inspection.sample = sampler.into_sorted();
    inspection
}

/// One sampled turn, ordered by its sampling score (then its place, so ties are stable).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SampledTurn {
    score: u64,
    shard: String,
    row: u64,
    turn: u64,
    role: Option<String>,
    turn_identifier: Option<i64>,
    conversation_hash: Option<String>,
    content: String,
}

impl SampledTurn {
    fn place(&self) -> (u64, &str, u64, u64) {
        (self.score, &self.shard, self.row, self.turn)
    }
}

impl Ord for SampledTurn {
    fn cmp(&self, other: &Self) -> Ordering {
        self.place().cmp(&other.place())
    }
}

impl PartialOrd for SampledTurn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The score of a turn: a hash of the conversation and the turn, so the sample is the same on
/// every run and a conversation kept by an amendment keeps its chance of being sampled.
fn sample_score(conversation_hash: Option<&str>, turn_identifier: Option<i64>, turn: u64) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(b"wildchat-verify-pii-sample\0");
    hasher.update(conversation_hash.unwrap_or("").as_bytes());
    hasher.update(b"\0");
    hasher.update(
        turn_identifier
            .map(|identifier| identifier.to_string())
            .unwrap_or_default(),
    );
    hasher.update(b"\0");
    hasher.update(turn.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(prefix)
}

/// Keeps the `size` turns with the lowest scores (bottom-k sampling): deterministic, uniform,
/// and in memory only `size` turns at a time.
struct Sampler {
    size: usize,
    kept: BinaryHeap<SampledTurn>,
}

impl Sampler {
    fn new(size: usize) -> Sampler {
        Sampler {
            size,
            kept: BinaryHeap::new(),
        }
    }

    fn add_batch(&mut self, shard: &str, row_offset: u64, batch: &RecordBatch) -> anyhow::Result<()> {
        let hashes = string_column(batch, "conversation_hash")?;
        let turns = Turns::of(batch)?;
        let (Some(contents), roles, identifiers) = (turns.content, turns.role, turns.turn_identifier) else {
            anyhow::bail!("turns have no content field");
        };
        for row in 0..batch.num_rows() {
            let conversation_hash = optional_str(hashes, row);
            for (turn, index) in turns.range(row).enumerate() {
                let role = roles.and_then(|roles| optional_str(roles, index));
                if !matches!(role, Some("user" | "assistant")) || !contents.is_valid(index) {
                    continue;
                }
                let content = contents.value(index);
                if content.trim().is_empty() {
                    continue;
                }
                let turn_identifier = identifiers.and_then(|identifiers| optional_i64(identifiers, index));
                let score = sample_score(conversation_hash, turn_identifier, turn as u64);
                if self.kept.len() >= self.size && self.kept.peek().is_some_and(|highest| highest.score <= score) {
                    continue;
                }
                self.kept.push(SampledTurn {
                    score,
                    shard: shard.to_string(),
                    row: row_offset + row as u64,
                    turn: turn as u64,
                    role: role.map(str::to_string),
                    turn_identifier,
                    conversation_hash: conversation_hash.map(str::to_string),
                    content: content.to_string(),
                });
                if self.kept.len() > self.size {
                    self.kept.pop();
                }
            }
        }
        Ok(())
    }

    fn into_sorted(self) -> Vec<SampledTurn> {
        self.kept.into_sorted_vec()
    }
}

fn merge_samples(mut kept: Vec<SampledTurn>, more: Vec<SampledTurn>, size: usize) -> Vec<SampledTurn> {
    kept.extend(more);
    kept.sort();
    kept.truncate(size);
    kept
}

fn scan_sample(scan: &PiiScan<'_>, mut sample: Vec<SampledTurn>) -> PiiScanReport {
    // Findings in reading order, not score order.
    sample.sort_by(|left, right| (&left.shard, left.row, left.turn).cmp(&(&right.shard, right.row, right.turn)));
    let mut report = PiiScanReport {
        turns_scanned: sample.len() as u64,
        kinds: BTreeMap::new(),
        findings: Vec::new(),
    };
    for turn in sample {
        let mut kinds = scan(&turn.content);
        if kinds.is_empty() {
            continue;
        }
        kinds.sort();
        kinds.dedup();
        for kind in &kinds {
            *report.kinds.entry(kind.clone()).or_default() += 1;
        }
        tracing::warn!(shard = %turn.shard, row = turn.row, turn = turn.turn, kinds = ?kinds, "unredacted pii in a release");
        report.findings.push(PiiFinding {
            shard: turn.shard,
            row: turn.row,
            turn: turn.turn,
            role: turn.role,
            turn_identifier: turn.turn_identifier,
            conversation_hash: turn.conversation_hash,
            kinds,
        });
    }
    report
}
