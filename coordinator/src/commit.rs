//! Committing a release: copy each partition's shard to its numbered place under
//! `releases/<version>/full/`, then write the manifest, last and only if absent, so a version
//! exists exactly when its manifest does and lists exactly the committed shards.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::counters::Counters;
use shared::jobs::{FinaliseOutcome, MapOutcome};
use shared::store::{put_json, ObjectMeta, ObjectStore, PutMode, StoreError};

use crate::plan::{PlanConfig, RunPlan};

pub const MANIFEST_FORMAT: &str = "wildchat-release/1";

pub fn release_prefix(version: &str) -> String {
    format!("releases/{version}/")
}

pub fn manifest_key(version: &str) -> String {
    format!("releases/{version}/manifest.json")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub rows: u64,
    pub shards: Vec<ShardEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: String,
    pub run_id: String,
    pub parent: Option<String>,
    pub created_at: String,
    pub code_version: String,
    pub schema: String,
    pub variants: std::collections::BTreeMap<String, Variant>,
    /// Run counters grouped by reason: rows read, quarantined, chains dropped, output sizes.
    pub counters: Value,
    /// Work the run did (texts scored, cache hits): differs between runs of the same input.
    #[serde(default)]
    pub work: Value,
    pub config: PlanConfig,
    pub inputs: Vec<ObjectMeta>,
    pub quarantine: Vec<String>,
}

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
    for group in ["quarantined", "chains_dropped", "rows_dropped"] {
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
    let prefix = release_prefix(&plan.version);
    let mut shards = Vec::new();
    for outcome in partition_outcomes {
        let Some(shard) = &outcome.shard else {
            continue;
        };
        let key = format!("{prefix}full/part-{:05}.parquet", shards.len());
        store.copy(&shard.key, &key, PutMode::Overwrite).await?;
        shards.push(ShardEntry {
            key,
            rows: shard.rows,
            bytes: shard.bytes,
            sha256: shard.sha256.clone(),
        });
    }
    let mut variants = std::collections::BTreeMap::new();
    variants.insert(
        "full".to_string(),
        Variant {
            rows: shards.iter().map(|shard| shard.rows).sum(),
            shards,
        },
    );
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: plan.version.clone(),
        run_id: plan.run_id.clone(),
        parent: None,
        created_at: chrono::Utc::now().to_rfc3339(),
        code_version: plan.code_version.clone(),
        schema: "WildChat-1M".to_string(),
        variants,
        counters: nest_counters(counters),
        work: nest_counters(work),
        config: plan.config.clone(),
        inputs: plan.inputs.clone(),
        quarantine: map_outcomes
            .iter()
            .flat_map(|outcome| outcome.quarantine_keys.iter().cloned())
            .collect(),
    };
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
