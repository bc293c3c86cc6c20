//! DIFF: what changed between two versions, read from the shards themselves (the ground truth):
//! rows per variant, per-language and per-country counts, conversations added and removed, and
//! which shards are byte-identical.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use arrow_array::Array;
use serde::Serialize;
use storage::ObjectStore;

use super::shard::{optional_str, read_batches, string_column};
use crate::manifest::{read_manifest, Manifest, VARIANTS};

/// Hashes printed per list by `Display`; the JSON form always has them all.
const DISPLAYED_HASHES: usize = 100;
/// How a missing language or country is counted.
const NONE_LABEL: &str = "(none)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountDelta {
    pub a: u64,
    pub b: u64,
    /// `b - a`.
    pub delta: i64,
}

impl CountDelta {
    fn new(a: u64, b: u64) -> CountDelta {
        CountDelta {
            a,
            b,
            delta: b as i64 - a as i64,
        }
    }
}

/// A shard of `b` with the same sha256 as a shard of `a` in the same variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdenticalShard {
    pub a: String,
    pub b: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantDiff {
    pub rows: CountDelta,
    pub shards: CountDelta,
    pub identical_shards: Vec<IdenticalShard>,
    /// Conversations per language (null counted as `(none)`), every language of either side.
    pub languages: BTreeMap<String, CountDelta>,
    pub countries: BTreeMap<String, CountDelta>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub variants: BTreeMap<String, VariantDiff>,
    pub added_count: u64,
    pub removed_count: u64,
    /// Conversation hashes of `b`'s `full` variant that `a`'s lacks, sorted.
    pub added: Vec<String>,
    /// Conversation hashes of `a`'s `full` variant that `b`'s lacks, sorted.
    pub removed: Vec<String>,
}

impl fmt::Display for DiffReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(formatter, "diff {} -> {}", self.a, self.b)?;
        writeln!(
            formatter,
            "  {:<10} {:>12} {:>12} {:>10}   shards identical by sha256",
            "variant", self.a, self.b, "delta"
        )?;
        for (name, variant) in self.ordered_variants() {
            writeln!(
                formatter,
                "  {:<10} {:>12} {:>12} {:>+10}   {} of {}",
                name,
                variant.rows.a,
                variant.rows.b,
                variant.rows.delta,
                variant.identical_shards.len(),
                variant.shards.b
            )?;
        }
        writeln!(
            formatter,
            "  conversations (full): {} removed, {} added",
            self.removed_count, self.added_count
        )?;
        write_hashes(formatter, "removed", &self.removed)?;
        write_hashes(formatter, "added", &self.added)?;
        for (name, variant) in self.ordered_variants() {
            write_changed(formatter, &format!("languages ({name})"), &variant.languages)?;
            write_changed(formatter, &format!("countries ({name})"), &variant.countries)?;
        }
        Ok(())
    }
}

impl DiffReport {
    fn ordered_variants(&self) -> Vec<(&String, &VariantDiff)> {
        let mut variants: Vec<(&String, &VariantDiff)> = self.variants.iter().collect();
        variants.sort_by_key(|(name, _)| {
            VARIANTS
                .iter()
                .position(|known| known == name)
                .unwrap_or(VARIANTS.len())
        });
        variants
    }
}

fn write_hashes(formatter: &mut fmt::Formatter<'_>, label: &str, hashes: &[String]) -> fmt::Result {
    for hash in hashes.iter().take(DISPLAYED_HASHES) {
        writeln!(formatter, "    {label:<8} {hash}")?;
    }
    if hashes.len() > DISPLAYED_HASHES {
        writeln!(
            formatter,
            "    ... and {} more {label} (all of them with --json)",
            hashes.len() - DISPLAYED_HASHES
        )?;
    }
    Ok(())
}

fn write_changed(
    formatter: &mut fmt::Formatter<'_>,
    title: &str,
    counts: &BTreeMap<String, CountDelta>,
) -> fmt::Result {
    let changed: Vec<(&String, &CountDelta)> = counts.iter().filter(|(_, count)| count.delta != 0).collect();
    if changed.is_empty() {
        return writeln!(formatter, "  {title}: unchanged");
    }
    writeln!(formatter, "  {title}, changed only")?;
    for (label, count) in changed {
        writeln!(
            formatter,
            "    {:<24} {:>10} {:>10} {:>+10}",
            label, count.a, count.b, count.delta
        )?;
    }
    Ok(())
}

/// The columns diff reads from one shard.
#[derive(Debug, Default)]
struct ShardSummary {
    languages: BTreeMap<String, u64>,
    countries: BTreeMap<String, u64>,
    hashes: Vec<String>,
}

fn summarise_shard(body: bytes::Bytes) -> anyhow::Result<ShardSummary> {
    let mut summary = ShardSummary::default();
    for batch in read_batches(body, Some(&["conversation_hash", "language", "country"]))? {
        let hashes = string_column(&batch, "conversation_hash")?;
        let languages = string_column(&batch, "language")?;
        let countries = string_column(&batch, "country")?;
        for row in 0..batch.num_rows() {
            if hashes.is_valid(row) {
                summary.hashes.push(hashes.value(row).to_string());
            }
            let language = optional_str(languages, row).unwrap_or(NONE_LABEL);
            *summary.languages.entry(language.to_string()).or_default() += 1;
            let country = optional_str(countries, row).unwrap_or(NONE_LABEL);
            *summary.countries.entry(country.to_string()).or_default() += 1;
        }
    }
    Ok(summary)
}

/// Reads each distinct shard once: shards are keyed by the sha256 their manifest lists, so the
/// shards an amendment carried over are not read twice (diff trusts the manifests; `verify`
/// checks them).
#[derive(Default)]
struct SummaryCache {
    by_sha256: HashMap<String, Arc<ShardSummary>>,
}

impl SummaryCache {
    async fn variant(
        &mut self,
        store: &dyn ObjectStore,
        manifest: &Manifest,
        variant: &str,
    ) -> anyhow::Result<Vec<Arc<ShardSummary>>> {
        let Some(variant) = manifest.variants.get(variant) else {
            return Ok(Vec::new());
        };
        let mut summaries = Vec::with_capacity(variant.shards.len());
        for entry in &variant.shards {
            if let Some(summary) = self.by_sha256.get(&entry.sha256) {
                summaries.push(Arc::clone(summary));
                continue;
            }
            let body = store
                .get(&entry.key)
                .await
                .map_err(|error| anyhow::Error::new(error).context(format!("reading shard {}", entry.key)))?;
            let summary = tokio::task::spawn_blocking(move || summarise_shard(body))
                .await?
                .map_err(|error| error.context(format!("reading shard {}", entry.key)))?;
            let summary = Arc::new(summary);
            self.by_sha256.insert(entry.sha256.clone(), Arc::clone(&summary));
            summaries.push(summary);
        }
        Ok(summaries)
    }
}

fn count_deltas<'a>(
    a: impl Iterator<Item = &'a BTreeMap<String, u64>>,
    b: impl Iterator<Item = &'a BTreeMap<String, u64>>,
) -> BTreeMap<String, CountDelta> {
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for counts in a {
        for (label, count) in counts {
            totals.entry(label.clone()).or_default().0 += count;
        }
    }
    for counts in b {
        for (label, count) in counts {
            totals.entry(label.clone()).or_default().1 += count;
        }
    }
    totals
        .into_iter()
        .map(|(label, (count_a, count_b))| (label, CountDelta::new(count_a, count_b)))
        .collect()
}

/// Compares version `a` with version `b` (typically `b` amended from `a`, or a rerun).
pub async fn diff(store: &dyn ObjectStore, a: &str, b: &str) -> anyhow::Result<DiffReport> {
    let manifest_a = read_manifest(store, a).await?;
    let manifest_b = read_manifest(store, b).await?;
    let variant_names: BTreeSet<&String> = manifest_a.variants.keys().chain(manifest_b.variants.keys()).collect();
    let mut cache = SummaryCache::default();
    let mut variants = BTreeMap::new();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for name in variant_names {
        let summaries_a = cache.variant(store, &manifest_a, name).await?;
        let summaries_b = cache.variant(store, &manifest_b, name).await?;
        let shards_a = manifest_a
            .variants
            .get(name)
            .map(|variant| variant.shards.as_slice())
            .unwrap_or(&[]);
        let shards_b = manifest_b
            .variants
            .get(name)
            .map(|variant| variant.shards.as_slice())
            .unwrap_or(&[]);
        let keys_by_sha256_a: HashMap<&str, &str> = shards_a
            .iter()
            .rev()
            .map(|shard| (shard.sha256.as_str(), shard.key.as_str()))
            .collect();
        let identical_shards = shards_b
            .iter()
            .filter_map(|shard| {
                keys_by_sha256_a.get(shard.sha256.as_str()).map(|key_a| IdenticalShard {
                    a: key_a.to_string(),
                    b: shard.key.clone(),
                    sha256: shard.sha256.clone(),
                })
            })
            .collect();
        let rows_a = manifest_a.variants.get(name).map_or(0, |variant| variant.rows);
        let rows_b = manifest_b.variants.get(name).map_or(0, |variant| variant.rows);
        variants.insert(
            name.clone(),
            VariantDiff {
                rows: CountDelta::new(rows_a, rows_b),
                shards: CountDelta::new(shards_a.len() as u64, shards_b.len() as u64),
                identical_shards,
                languages: count_deltas(
                    summaries_a.iter().map(|summary| &summary.languages),
                    summaries_b.iter().map(|summary| &summary.languages),
                ),
                countries: count_deltas(
                    summaries_a.iter().map(|summary| &summary.countries),
                    summaries_b.iter().map(|summary| &summary.countries),
                ),
            },
        );
        if name == "full" {
            let hashes_a: BTreeSet<&String> = summaries_a.iter().flat_map(|summary| summary.hashes.iter()).collect();
            let hashes_b: BTreeSet<&String> = summaries_b.iter().flat_map(|summary| summary.hashes.iter()).collect();
            added = hashes_b.difference(&hashes_a).map(|hash| hash.to_string()).collect();
            removed = hashes_a.difference(&hashes_b).map(|hash| hash.to_string()).collect();
        }
    }
    Ok(DiffReport {
        a: a.to_string(),
        b: b.to_string(),
        variants,
        added_count: added.len() as u64,
        removed_count: removed.len() as u64,
        added,
        removed,
    })
}
