//! AMEND: a new version that is its parent minus the conversations of a removal list (takedown
//! requests). Shards without a removed row are copied byte for byte; the others are rewritten
//! with the worker's writer settings. The manifest is written last and only if absent, so an
//! interrupted amendment leaves no version and a rerun starts over.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde_json::Value;
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};

use super::schema::schema_differences;
use super::shard::{optional_i64, optional_str, read_batches, sha256_hex, string_column, write_shard, Turns};
use crate::card::{render_card, render_charts, CardInput};
use crate::exclusions::ExclusionList;
use crate::manifest::{
    manifest_key, read_manifest, release_prefix, shard_key, shard_stats_key, Amendment, Manifest, ShardEntry, Variant,
    MANIFEST_FORMAT,
};
use crate::record::release_schema;
use crate::stats::{merge, shard_stats, ReleaseStats, ShardStats};

/// Counter group in the manifest with the conversations removed by amendments, per variant,
/// summed over the chain of amendments since the run.
pub const REMOVED_COUNTER_GROUP: &str = "removed_by_amendment";

/// What the new version records about how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmendOptions {
    /// Program name, version and git commit doing the amendment.
    pub code_version: String,
    /// RFC 3339.
    pub created_at: String,
}

impl AmendOptions {
    pub fn now(code_version: impl Into<String>) -> AmendOptions {
        AmendOptions {
            code_version: code_version.into(),
            created_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

/// Why an amendment was refused; other failures (store, parquet) come as plain errors.
#[derive(Debug, thiserror::Error)]
pub enum AmendError {
    #[error("{0}")]
    InvalidVersion(String),
    #[error("release {version} already exists and releases are immutable: choose another version")]
    VersionExists { version: String },
    #[error("the removal list has no entries")]
    EmptyRemovalList,
    #[error("shard {key} of release {version} does not match its manifest ({what}): run verify on {version}")]
    ParentShardMismatch { version: String, key: String, what: String },
    #[error("release {version} was created by someone else while this amendment was being written")]
    LostRace { version: String },
}

/// Makes `new_version` from `version` without the conversations `removal_list` names (the file's
/// contents: one 32-hex `conversation_hash` or decimal `turn_identifier` per line, `#` comments;
/// a conversation goes when its hash or any of its turns' identifiers is listed).
///
/// Per variant and shard of the parent: a shard without a removed row is copied unchanged (same
/// bytes, same sha256, its statistics partial copied too); the others are rewritten without the
/// removed rows and get a recomputed partial. A shard left with no row is dropped from the
/// manifest (it counts as rewritten). Shards are renumbered `part-00000...` in the parent's order.
/// The new manifest keeps the parent's config, inputs and run id, adds the removed counts to the
/// counters, re-merges the statistics and records the [`Amendment`]; the card, charts and
/// `config.json` are written beside it, and the manifest last.
///
/// The new version is claimed (`crate::claim`) before anything is written, so two amendments
/// racing for it with different lists cannot interleave their writes: the second is refused.
pub async fn amend(
    store: &dyn ObjectStore,
    version: &str,
    removal_list: &[u8],
    new_version: &str,
    options: &AmendOptions,
) -> anyhow::Result<Manifest> {
    shared::jobs::validate_name("version", new_version).map_err(AmendError::InvalidVersion)?;
    let list = ExclusionList::parse("the removal list", removal_list)?;
    if list.is_empty() {
        return Err(AmendError::EmptyRemovalList.into());
    }
    let parent = read_manifest(store, version).await?;
    if new_version == version || store.head(&manifest_key(new_version)).await?.is_some() {
        return Err(AmendError::VersionExists {
            version: new_version.to_string(),
        }
        .into());
    }
    // Claimed before the first write: another amendment (another list) or a run aiming at the
    // same new version is refused here; the same amendment retried after a failure goes on.
    let claimant = format!("amend of {version} (removal list {})", &sha256_hex(removal_list)[..16]);
    crate::claim::claim_version(store, new_version, &claimant).await?;
    let list = Arc::new(list);

    let mut variants = BTreeMap::new();
    let mut statistics = BTreeMap::new();
    let mut removed_per_variant = BTreeMap::new();
    let mut rewritten_per_variant = BTreeMap::new();
    for (variant_name, parent_variant) in &parent.variants {
        let mut shards = Vec::with_capacity(parent_variant.shards.len());
        let mut partials = Vec::with_capacity(parent_variant.shards.len());
        let mut removed = 0u64;
        let mut rewritten = 0u64;
        for entry in &parent_variant.shards {
            let body = store
                .get(&entry.key)
                .await
                .map_err(|error| anyhow::Error::new(error).context(format!("reading shard {}", entry.key)))?;
            check_parent_shard(version, entry, &body)?;
            let scan_body = body.clone();
            let scan_list = Arc::clone(&list);
            let keep = tokio::task::spawn_blocking(move || rows_to_keep(scan_body, &scan_list))
                .await?
                .map_err(|error| error.context(format!("reading shard {}", entry.key)))?;
            let kept_rows = keep.iter().filter(|kept| **kept).count() as u64;
            if keep.len() as u64 != entry.rows {
                return Err(AmendError::ParentShardMismatch {
                    version: version.to_string(),
                    key: entry.key.clone(),
                    what: format!("{} rows, the manifest lists {}", keep.len(), entry.rows),
                }
                .into());
            }
            let removed_here = entry.rows - kept_rows;
            removed += removed_here;
            let index = shards.len();
            let new_key = shard_key(new_version, variant_name, index);
            let new_stats_key = shard_stats_key(new_version, variant_name, index);
            if removed_here == 0 {
                store.copy(&entry.key, &new_key, PutMode::Overwrite).await?;
                let partial = carried_partial(store, entry, &new_stats_key, &body).await?;
                partials.push(partial);
                shards.push(ShardEntry {
                    key: new_key,
                    rows: entry.rows,
                    bytes: entry.bytes,
                    sha256: entry.sha256.clone(),
                    stats_key: Some(new_stats_key),
                });
                continue;
            }
            rewritten += 1;
            if kept_rows == 0 {
                tracing::info!(shard = %entry.key, removed = removed_here, "shard emptied by the amendment and dropped");
                continue;
            }
            let (rewritten_shard, partial) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let rewritten_shard = rewrite_shard(body, &keep)?;
                let partial = shard_stats(&rewritten_shard)?;
                Ok((rewritten_shard, partial))
            })
            .await?
            .map_err(|error| error.context(format!("rewriting shard {}", entry.key)))?;
            let sha256 = sha256_hex(&rewritten_shard);
            let bytes = rewritten_shard.len() as u64;
            store
                .put(&new_key, Bytes::from(rewritten_shard), PutMode::Overwrite)
                .await?;
            put_json(store, &new_stats_key, &partial, PutMode::Overwrite).await?;
            tracing::info!(from = %entry.key, to = %new_key, removed = removed_here, rows = kept_rows, "shard rewritten");
            partials.push(partial);
            shards.push(ShardEntry {
                key: new_key,
                rows: kept_rows,
                bytes,
                sha256,
                stats_key: Some(new_stats_key),
            });
        }
        let rows = shards.iter().map(|shard| shard.rows).sum();
        variants.insert(variant_name.clone(), Variant { rows, shards });
        statistics.insert(variant_name.clone(), merge(&partials));
        removed_per_variant.insert(variant_name.clone(), removed);
        rewritten_per_variant.insert(variant_name.clone(), rewritten);
    }
    if removed_per_variant.values().all(|removed| *removed == 0) {
        tracing::warn!(
            version,
            new_version,
            "no conversation of the release is on the removal list"
        );
    }

    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: new_version.to_string(),
        parent: Some(version.to_string()),
        run_id: parent.run_id.clone(),
        created_at: options.created_at.clone(),
        code_version: options.code_version.clone(),
        schema: parent.schema.clone(),
        config: parent.config.clone(),
        config_sha256: parent.config_sha256.clone(),
        inputs: parent.inputs.clone(),
        inputs_sha256: parent.inputs_sha256.clone(),
        variants,
        counters: counters_with_removals(&parent.counters, &removed_per_variant),
        work: parent.work.clone(),
        quarantine: parent.quarantine.clone(),
        statistics: statistics
            .iter()
            .map(|(name, stats)| Ok((name.clone(), serde_json::to_value(stats)?)))
            .collect::<Result<_, serde_json::Error>>()?,
        amendment: Some(Amendment {
            removal_list_sha256: sha256_hex(removal_list),
            removal_entries: list.entries,
            removed: removed_per_variant,
            rewritten_shards: rewritten_per_variant,
        }),
        fingerprint: parent.fingerprint.clone(),
    };

    let parent_config = format!("{}config.json", release_prefix(version));
    if store.head(&parent_config).await?.is_some() {
        let new_config = format!("{}config.json", release_prefix(new_version));
        store.copy(&parent_config, &new_config, PutMode::Overwrite).await?;
    }
    for (key, body) in card_files(&manifest, &statistics) {
        store.put(&key, body, PutMode::Overwrite).await?;
    }
    match put_json(store, &manifest_key(new_version), &manifest, PutMode::CreateIfAbsent).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed { .. }) => {
            return Err(AmendError::LostRace {
                version: new_version.to_string(),
            }
            .into())
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(
        version,
        new_version,
        removed = ?manifest.amendment.as_ref().map(|amendment| &amendment.removed),
        "release amended"
    );
    Ok(manifest)
}

/// The parent's shard must be the one its manifest lists: amending a damaged release would
/// publish the damage under a new name.
fn check_parent_shard(version: &str, entry: &ShardEntry, body: &[u8]) -> Result<(), AmendError> {
    let mismatch = |what: String| AmendError::ParentShardMismatch {
        version: version.to_string(),
        key: entry.key.clone(),
        what,
    };
    let digest = sha256_hex(body);
    if digest != entry.sha256 {
        return Err(mismatch(format!(
            "sha256 {digest}, the manifest lists {}",
            entry.sha256
        )));
    }
    if body.len() as u64 != entry.bytes {
        return Err(mismatch(format!(
            "{} bytes, the manifest lists {}",
            body.len(),
            entry.bytes
        )));
    }
    Ok(())
}

/// The statistics partial of a shard carried over: the parent's, copied beside the new shard;
/// computed from the shard when the parent has none.
async fn carried_partial(
    store: &dyn ObjectStore,
    entry: &ShardEntry,
    new_stats_key: &str,
    body: &Bytes,
) -> anyhow::Result<ShardStats> {
    if let Some(parent_stats_key) = &entry.stats_key {
        match get_json::<ShardStats>(store, parent_stats_key).await {
            Ok(partial) => {
                store.copy(parent_stats_key, new_stats_key, PutMode::Overwrite).await?;
                return Ok(partial);
            }
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(object = %parent_stats_key, "statistics partial missing, recomputed from the shard");
            }
            Err(error) => return Err(error.into()),
        }
    }
    let shard = body.clone();
    let partial = tokio::task::spawn_blocking(move || shard_stats(&shard))
        .await?
        .map_err(|error| error.context(format!("computing the statistics of shard {}", entry.key)))?;
    put_json(store, new_stats_key, &partial, PutMode::Overwrite).await?;
    Ok(partial)
}

/// Per row of the shard, whether it stays: read from `conversation_hash` and the turns'
/// `turn_identifier` only, so shards the list does not touch are never decoded in full.
fn rows_to_keep(shard: Bytes, list: &ExclusionList) -> anyhow::Result<Vec<bool>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(shard)?;
    let differences = schema_differences(builder.schema());
    if !differences.is_empty() {
        anyhow::bail!("the shard is not in the release schema: {}", differences.join("; "));
    }
    let leaves: Vec<usize> = builder
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, column)| {
            let parts = column.path().parts();
            match parts.first().map(String::as_str) {
                Some("conversation_hash") => true,
                Some("conversation") => parts.last().is_some_and(|leaf| leaf == "turn_identifier"),
                _ => false,
            }
        })
        .map(|(index, _)| index)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
    let mut keep = Vec::new();
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let hashes = string_column(&batch, "conversation_hash")?;
        let turns = Turns::of(&batch)?;
        let Some(identifiers) = turns.turn_identifier else {
            anyhow::bail!("turns have no turn_identifier field");
        };
        for row in 0..batch.num_rows() {
            let hash = optional_str(hashes, row).unwrap_or("");
            let turn_identifiers = turns.range(row).filter_map(|index| optional_i64(identifiers, index));
            keep.push(!list.matches(hash, turn_identifiers));
        }
    }
    Ok(keep)
}

/// The shard without the rows `keep` marks false, written like the worker writes shards.
fn rewrite_shard(shard: Bytes, keep: &[bool]) -> anyhow::Result<Vec<u8>> {
    let mut filtered: Vec<RecordBatch> = Vec::new();
    let mut offset = 0usize;
    for batch in read_batches(shard, None)? {
        let rows = batch.num_rows();
        let Some(batch_keep) = keep.get(offset..offset + rows) else {
            anyhow::bail!("the shard has more rows than when it was scanned");
        };
        let predicate = BooleanArray::from(batch_keep.to_vec());
        let kept = filter_record_batch(&batch, &predicate)?;
        if kept.num_rows() > 0 {
            filtered.push(kept);
        }
        offset += rows;
    }
    if offset != keep.len() {
        anyhow::bail!("the shard has {offset} rows where {} were scanned", keep.len());
    }
    debug_assert!(filtered
        .iter()
        .all(|batch| batch.columns().iter().all(|column| column.len() == batch.num_rows())));
    write_shard(release_schema(), &filtered)
}

/// The parent's counters plus this amendment's removals under [`REMOVED_COUNTER_GROUP`].
fn counters_with_removals(parent: &Value, removed: &BTreeMap<String, u64>) -> Value {
    let mut counters = match parent {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let group = counters
        .entry(REMOVED_COUNTER_GROUP.to_string())
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !group.is_object() {
        *group = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(group) = group {
        for (variant, amount) in removed {
            let before = group.get(variant).and_then(Value::as_u64).unwrap_or(0);
            group.insert(variant.clone(), Value::from(before + amount));
        }
    }
    Value::Object(counters)
}

/// The card's license and title when the run's config has none (the coordinator's defaults).
const DEFAULT_LICENSE: &str = "odc-by";
const DEFAULT_PRETTY_NAME: &str = "WildChat-style conversations";

/// The dataset card and the charts of the `full` variant for the new version, as `(key, body)`
/// pairs, rendered as the coordinator renders them at commit, with the license and title of the
/// run's config.
fn card_files(manifest: &Manifest, statistics: &BTreeMap<String, ReleaseStats>) -> Vec<(String, Bytes)> {
    let config_text = |name: &str| manifest.config.get(name).and_then(Value::as_str);
    let card = render_card(&CardInput {
        manifest,
        statistics,
        license: config_text("license").unwrap_or(DEFAULT_LICENSE),
        pretty_name: config_text("pretty_name").unwrap_or(DEFAULT_PRETTY_NAME),
    });
    let prefix = release_prefix(&manifest.version);
    let mut files = vec![(format!("{prefix}README.md"), Bytes::from(card))];
    if let Some(full) = statistics.get("full") {
        for (name, svg) in render_charts(full) {
            files.push((format!("{prefix}charts/{name}"), Bytes::from(svg)));
        }
    }
    files
}
