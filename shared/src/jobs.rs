//! The job protocol: payloads the coordinator enqueues, outcomes workers record, and the
//! deterministic key of every object a run writes (DESIGN §4), so reruns land on the same
//! keys and completed work is recognised by its marker.

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::object::ObjectMeta;

pub const MAP_QUEUE: &str = "map";
pub const PARTITION_QUEUE: &str = "partition";
pub const FINALISE_QUEUE: &str = "finalise";
/// Analyse jobs of a run whose toxicity model needs a GPU: only GPU workers serve this queue.
pub const PARTITION_GPU_QUEUE: &str = "partition-gpu";

/// The capability a worker needs to serve a queue: `gpu` for `*-gpu` queues, else `cpu`.
pub fn queue_capability(queue: &str) -> &'static str {
    if queue.ends_with("-gpu") {
        "gpu"
    } else {
        "cpu"
    }
}

/// The run's PII redaction settings (DESIGN §6), so that every worker builds the same policy
/// from the job it leases: the `reference` policy (the default: WildChat's release rules) or
/// `strict` (every detected entity of `types`, all 27 when empty, through `operator`).
/// Entity types stay Presidio names here; the worker parses them with the PII detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiPolicyConfig {
    pub policy: PiiPolicyKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default)]
    pub operator: PiiOperator,
}

/// Which redaction rules a run applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiPolicyKind {
    /// WildChat's release rules (`docs/reference-pii-policy.md`).
    #[default]
    Reference,
    /// Every detected entity of the configured types.
    Strict,
}

/// How the strict policy replaces an entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiOperator {
    /// `<PRESIDIO_ANONYMIZED_{ENTITY}>`, as the reference does.
    #[default]
    Replace,
    /// One `*` per code point.
    Mask,
    /// A keyed hash of the span, so equal strings get equal placeholders.
    Hash,
}

impl std::str::FromStr for PiiPolicyKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "reference" => Ok(PiiPolicyKind::Reference),
            "strict" => Ok(PiiPolicyKind::Strict),
            other => Err(format!("unknown pii policy {other:?}: use reference or strict")),
        }
    }
}

impl std::str::FromStr for PiiOperator {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "replace" => Ok(PiiOperator::Replace),
            "mask" => Ok(PiiOperator::Mask),
            "hash" => Ok(PiiOperator::Hash),
            other => Err(format!("unknown pii operator {other:?}: use replace, mask or hash")),
        }
    }
}

impl Default for PiiPolicyConfig {
    fn default() -> Self {
        PiiPolicyConfig {
            policy: PiiPolicyKind::Reference,
            types: Vec::new(),
            operator: PiiOperator::Replace,
        }
    }
}

/// Parse, validate and partition one object or one line-aligned byte range of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapJob {
    pub run_id: String,
    pub job_id: String,
    pub object: ObjectMeta,
    pub start: u64,
    /// Exclusive end; None reads to the end of the object.
    pub end: Option<u64>,
    pub partitions: u32,
    /// Buffered fragment bytes that trigger writing a chunk of every partition's fragment.
    pub flush_bytes: u64,
    pub max_line_bytes: u64,
}

/// One fragment object a map job wrote for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentRef {
    pub partition: u32,
    pub key: String,
    pub rows: u64,
}

/// The completion marker of a map job, written last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapOutcome {
    pub job_id: String,
    pub object: String,
    pub start: u64,
    /// Lines owned by this range (to turn range-relative line numbers into absolute ones).
    pub lines: u64,
    pub counters: Counters,
    pub fragments: Vec<FragmentRef>,
    /// Chunks of quarantined rows this job wrote.
    pub quarantine_keys: Vec<String>,
}

/// Analyse one partition: link its rows into conversations, run the per-turn stages (language,
/// toxicity, IP hash and geo, PII detection) and write the analysed conversations and the
/// partition's PII document-frequency counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionJob {
    pub run_id: String,
    pub partition: u32,
    pub fragments: Vec<String>,
    #[serde(default)]
    pub pii: PiiPolicyConfig,
}

/// The completion marker of an analyse (partition) job, written last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyseOutcome {
    pub partition: u32,
    /// The analysed conversations (zstd JSON lines), absent when the partition has none.
    pub analysed: Option<String>,
    pub conversations: u64,
    /// The partition's PII document-frequency counts, absent when nothing was counted.
    pub pii_counts: Option<String>,
    pub counters: Counters,
    #[serde(default, skip_serializing_if = "Counters::is_empty")]
    pub work: Counters,
}

/// Finalise one partition after the run-wide PII counts are known: redact by policy, compute
/// the conversation hashes and write the partition's shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinaliseJob {
    pub run_id: String,
    pub partition: u32,
    pub analysed: Option<String>,
    /// The run's frequent PII strings (at or over the policy's document-frequency limit).
    pub frequent: String,
    #[serde(default)]
    pub pii: PiiPolicyConfig,
    /// Exclusion lists (benchmark reservations, takedowns) copied into the run, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<ExclusionRef>,
}

/// An exclusion list the run applies: `name` is its reason in the counters (`excluded.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionRef {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// The shard's statistics partial (JSON), beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_key: Option<String>,
}

/// The completion marker of a finalise job, written last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinaliseOutcome {
    pub partition: u32,
    /// The partition's shard of each release variant (`full`, `nontoxic`) that has rows.
    pub shards: std::collections::BTreeMap<String, ShardInfo>,
    /// What the data holds (conversations, turns, toxic turns...): equal for every run of the
    /// same input, however often a job was retried.
    pub counters: Counters,
    /// Work done (texts scored, cache hits): depends on what earlier attempts and runs left.
    #[serde(default, skip_serializing_if = "Counters::is_empty")]
    pub work: Counters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    Map(MapJob),
    Partition(PartitionJob),
    Finalise(FinaliseJob),
}

/// One quarantined input row as written under `runs/<run>/quarantine/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    pub object: String,
    pub range_start: u64,
    pub line_in_range: u64,
    pub byte_offset: u64,
    /// The line's length in bytes (without its newline): the line is bytes
    /// `byte_offset..byte_offset + byte_length` of the (decompressed) object.
    #[serde(default)]
    pub byte_length: u64,
    pub reason: String,
    /// Why, in words that never quote the row's content.
    pub detail: String,
}

/// Keys of everything a run writes.
#[derive(Debug, Clone)]
pub struct RunLayout {
    pub run_id: String,
}

impl RunLayout {
    pub fn new(run_id: &str) -> RunLayout {
        RunLayout {
            run_id: run_id.to_string(),
        }
    }

    pub fn prefix(&self) -> String {
        format!("runs/{}/", self.run_id)
    }

    pub fn plan(&self) -> String {
        format!("runs/{}/plan.json", self.run_id)
    }

    pub fn map_marker(&self, job_id: &str) -> String {
        format!("runs/{}/map/{job_id}/_SUCCESS.json", self.run_id)
    }

    pub fn fragment(&self, job_id: &str, partition: u32, chunk: u32) -> String {
        format!(
            "runs/{}/map/{job_id}/p{partition:05}-c{chunk:04}.jsonl.zst",
            self.run_id
        )
    }

    pub fn quarantine(&self, job_id: &str) -> String {
        format!("runs/{}/quarantine/{job_id}.jsonl.zst", self.run_id)
    }

    pub fn partition_marker(&self, partition: u32) -> String {
        format!("runs/{}/partitions/p{partition:05}.json", self.run_id)
    }

    pub fn partition_analysed(&self, partition: u32) -> String {
        format!("runs/{}/partitions/p{partition:05}.analysed.jsonl.zst", self.run_id)
    }

    pub fn partition_pii_counts(&self, partition: u32) -> String {
        format!("runs/{}/partitions/p{partition:05}.pii-counts.bin", self.run_id)
    }

    /// The merged run-wide PII counts reduced to the strings at or over their limit.
    pub fn pii_frequent(&self) -> String {
        format!("runs/{}/pii/frequent.bin", self.run_id)
    }

    pub fn finalise_marker(&self, partition: u32) -> String {
        format!("runs/{}/shards/p{partition:05}.json", self.run_id)
    }

    /// The partition's shard of one release variant.
    pub fn partition_shard(&self, partition: u32, variant: &str) -> String {
        format!("runs/{}/shards/p{partition:05}.{variant}.parquet", self.run_id)
    }

    pub fn partition_shard_stats(&self, partition: u32, variant: &str) -> String {
        format!("runs/{}/shards/p{partition:05}.{variant}.stats.json", self.run_id)
    }

    /// An exclusion list as copied into the run.
    pub fn exclusion_list(&self, name: &str) -> String {
        format!("runs/{}/exclusions/{name}.txt", self.run_id)
    }
}

/// The queue holding one kind of job of one run (`<run>/map`, `<run>/partition`).
pub fn run_queue(run_id: &str, kind: &str) -> String {
    format!("{run_id}/{kind}")
}

/// A map job id that is stable for (object, range) and safe as a key component.
pub fn map_job_id(object_index: usize, start: u64) -> String {
    format!("o{object_index:05}-b{start:012}")
}

/// Run ids and version names become key components: keep them to a safe alphabet.
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {kind} {name:?}: use 1-128 characters from a-z A-Z 0-9 - _ . not starting with '.'"
        ))
    }
}
