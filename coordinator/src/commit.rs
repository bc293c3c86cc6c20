//! Committing a release: copy each partition's shard of each variant (`full`, `nontoxic`) and
//! its statistics partial to their numbered places under `releases/<version>/`, write the
//! configuration, the dataset card and its charts, then the manifest, last and only if absent,
//! so a version exists exactly when its manifest does and lists exactly the committed shards.
//! Only the run that claimed the version (`release::claim`, at the start of the run) writes
//! there; the claim is checked again before the first object.

use std::collections::BTreeMap;

use bytes::Bytes;
use release::manifest::{
    inputs_sha256, shard_key, shard_stats_key, Manifest, ShardEntry, Variant, MANIFEST_FORMAT, VARIANTS,
};
use release::stats::ShardStats;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::counters::Counters;
use shared::jobs::{FinaliseOutcome, MapOutcome};
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};

use crate::plan::RunPlan;

pub use release::manifest::{manifest_key, release_prefix};

#[derive(Debug, Clone)]
pub struct CommitReport {
    pub manifest_key: String,
    pub manifest: Manifest,
}

/// Nests dotted counter names: `quarantined.invalid_json` becomes `{"quarantined": {"invalid_json": n}}`.
pub fn nest_counters(counters: &Counters) -> Value {
    let mut root = Map::new();
    for (name, amount) in counters.iter() {
        match name.split_once('.') {
            Some((group, reason)) => {
                let entry = root
                    .entry(group.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(group_map) = entry {
                    group_map.insert(reason.to_string(), Value::from(amount));
                }
            }
            None => {
                root.insert(name.to_string(), Value::from(amount));
            }
        }
    }
    // Always show the groups a reader looks for, even when nothing fell into them.
    for group in ["quarantined", "chains_dropped", "rows_dropped", "excluded"] {
        root.entry(group.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Value::Object(root)
}

pub async fn commit_release(
    store: &dyn ObjectStore,
    plan: &RunPlan,
    partition_outcomes: &[FinaliseOutcome],
    map_outcomes: &[MapOutcome],
    counters: &Counters,
    work: &Counters,
) -> anyhow::Result<CommitReport> {
    // Nothing is written under releases/<version>/ unless this run still holds the version.
    release::claim::check_claim(store, &plan.version, &crate::pipeline::run_claimant(&plan.run_id)).await?;
    let prefix = release_prefix(&plan.version);
    let mut variants = BTreeMap::new();
    let mut statistics = BTreeMap::new();
    let mut release_statistics = BTreeMap::new();
    for variant in VARIANTS {
        let mut shards = Vec::new();
        let mut partials: Vec<ShardStats> = Vec::new();
        for outcome in partition_outcomes {
            let Some(shard) = outcome.shards.get(variant) else {
                continue;
            };
            let index = shards.len();
            let key = shard_key(&plan.version, variant, index);
            store.copy(&shard.key, &key, PutMode::Overwrite).await?;
            let stats_key = match &shard.stats_key {
                Some(partial_key) => {
                    let partial: ShardStats = get_json(store, partial_key).await?;
                    let key = shard_stats_key(&plan.version, variant, index);
                    store.copy(partial_key, &key, PutMode::Overwrite).await?;
                    partials.push(partial);
                    Some(key)
                }
                None => None,
            };
            shards.push(ShardEntry {
                key,
                rows: shard.rows,
                bytes: shard.bytes,
                sha256: shard.sha256.clone(),
                stats_key,
            });
        }
        let merged = release::stats::merge(&partials);
        statistics.insert(variant.to_string(), serde_json::to_value(&merged)?);
        release_statistics.insert(variant.to_string(), merged);
        variants.insert(
            variant.to_string(),
            Variant {
                rows: shards.iter().map(|shard| shard.rows).sum(),
                shards,
            },
        );
    }
    let config = serde_json::to_value(&plan.config)?;
    let config_bytes = serde_json::to_vec_pretty(&config)?;
    store
        .put(
            &format!("{prefix}config.json"),
            Bytes::from(config_bytes.clone()),
            PutMode::Overwrite,
        )
        .await?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: plan.version.clone(),
        parent: None,
        run_id: plan.run_id.clone(),
        created_at: chrono::Utc::now().to_rfc3339(),
        code_version: plan.code_version.clone(),
        schema: "WildChat-1M".to_string(),
        config,
        config_sha256: hex::encode(Sha256::digest(&config_bytes)),
        inputs: plan.inputs.clone(),
        inputs_sha256: inputs_sha256(&plan.inputs),
        variants,
        counters: nest_counters(counters),
        work: nest_counters(work),
        quarantine: map_outcomes
            .iter()
            .flat_map(|outcome| outcome.quarantine_keys.iter().cloned())
            .collect(),
        statistics,
        amendment: None,
        fingerprint: plan.fingerprint.clone(),
    };
    let card = release::card::render_card(&release::card::CardInput {
        manifest: &manifest,
        statistics: &release_statistics,
        license: &plan.config.license,
        pretty_name: &plan.config.pretty_name,
    });
    store
        .put(&format!("{prefix}README.md"), Bytes::from(card), PutMode::Overwrite)
        .await?;
    if let Some(full) = release_statistics.get("full") {
        for (name, svg) in release::card::render_charts(full) {
            store
                .put(&format!("{prefix}charts/{name}"), Bytes::from(svg), PutMode::Overwrite)
                .await?;
        }
    }
    let key = manifest_key(&plan.version);
    match put_json(store, &key, &manifest, PutMode::CreateIfAbsent).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed { .. }) => anyhow::bail!(
            "release {} was committed by someone else while this run was finishing",
            plan.version
        ),
        Err(error) => return Err(error.into()),
    }
    Ok(CommitReport {
        manifest_key: key,
        manifest,
    })
}
