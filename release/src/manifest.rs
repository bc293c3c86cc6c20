//! The release manifest: written last and only if absent, so a version exists exactly when its
//! manifest does, and it lists exactly the version's shards with their sizes and digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use storage::{get_json, ObjectMeta, ObjectStore, StoreError};

/// The manifest's own format (its schema version).
pub const MANIFEST_FORMAT: &str = "wildchat-release/2";
/// The variants a release holds, in the card's order (DESIGN §6, release filters).
pub const VARIANTS: [&str; 2] = ["full", "nontoxic"];

pub fn release_prefix(version: &str) -> String {
    format!("releases/{version}/")
}

pub fn manifest_key(version: &str) -> String {
    format!("releases/{version}/manifest.json")
}

/// `releases/<version>/<variant>/part-NNNNN.parquet`
pub fn shard_key(version: &str, variant: &str, index: usize) -> String {
    format!("releases/{version}/{variant}/part-{index:05}.parquet")
}

/// `releases/<version>/stats/<variant>/part-NNNNN.json`: the shard's statistics partial.
pub fn shard_stats_key(version: &str, variant: &str, index: usize) -> String {
    format!("releases/{version}/stats/{variant}/part-{index:05}.json")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// The shard's statistics partial ([`crate::stats::ShardStats`]), beside the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub rows: u64,
    pub shards: Vec<ShardEntry>,
}

/// What an amended version changed relative to its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// sha256 of the removal list file as given.
    pub removal_list_sha256: String,
    /// Entries of the list (conversation hashes and turn identifiers).
    pub removal_entries: u64,
    /// Conversations removed, per variant.
    pub removed: BTreeMap<String, u64>,
    /// Shards rewritten (the others were carried over byte for byte), per variant.
    pub rewritten_shards: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: String,
    /// The version this one was amended from.
    pub parent: Option<String>,
    pub run_id: String,
    pub created_at: String,
    /// Program name, version and git commit that made the release.
    pub code_version: String,
    pub schema: String,
    /// The run's configuration; the same JSON is written beside the manifest as `config.json`.
    pub config: Value,
    /// sha256 of `config.json`.
    pub config_sha256: String,
    pub inputs: Vec<ObjectMeta>,
    /// sha256 over the input snapshot (key, size and etag of every object, in order).
    pub inputs_sha256: String,
    pub variants: BTreeMap<String, Variant>,
    /// Run counters grouped by reason: rows read, quarantined, dropped, excluded, redacted...
    pub counters: Value,
    /// Work the run did (texts scored, cache hits): differs between runs of the same input.
    #[serde(default)]
    pub work: Value,
    pub quarantine: Vec<String>,
    /// Per variant, the release statistics ([`crate::stats::ReleaseStats`]) the card shows.
    #[serde(default)]
    pub statistics: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment: Option<Amendment>,
    /// The run fingerprint (salt key id, GeoIP databases with digests, toxicity model and
    /// threshold, moderation source, PII policy and model, language detector, code version)
    /// every worker of the run matched. An amended version keeps its parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<shared::fingerprint::RunFingerprint>,
}

/// sha256 over the input snapshot: `key \t size \t etag \n` per object, in order.
pub fn inputs_sha256(inputs: &[ObjectMeta]) -> String {
    let mut hasher = Sha256::new();
    for object in inputs {
        hasher.update(object.key.as_bytes());
        hasher.update(b"\t");
        hasher.update(object.size.to_string().as_bytes());
        hasher.update(b"\t");
        hasher.update(object.etag.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Reads a version's manifest; a clear error when the version does not exist.
pub async fn read_manifest(store: &dyn ObjectStore, version: &str) -> anyhow::Result<Manifest> {
    match get_json::<Manifest>(store, &manifest_key(version)).await {
        Ok(manifest) => Ok(manifest),
        Err(StoreError::NotFound { .. }) => {
            anyhow::bail!(
                "no release {version} in {} (no {})",
                store.describe(),
                manifest_key(version)
            )
        }
        Err(error) => Err(anyhow::Error::new(error).context(format!("reading the manifest of release {version}"))),
    }
}

/// Every version in the store (those with a manifest), sorted by name.
pub async fn list_versions(store: &dyn ObjectStore) -> anyhow::Result<Vec<String>> {
    let mut versions: Vec<String> = store
        .list("releases/")
        .await?
        .into_iter()
        .filter_map(|object| {
            let rest = object.key.strip_prefix("releases/")?;
            let (version, file) = rest.split_once('/')?;
            (file == "manifest.json").then(|| version.to_string())
        })
        .collect();
    versions.sort();
    versions.dedup();
    Ok(versions)
}
