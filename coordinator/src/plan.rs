//! Planning a run: snapshot the input listing and split it into map jobs (whole compressed
//! objects, line-aligned byte ranges of plain ones). The plan is written to the store first,
//! so a restarted coordinator resumes the same run from the same snapshot.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use shared::fingerprint::{ResourceFingerprint, RunFingerprint};
use shared::jobs::{map_job_id, validate_name, MapJob, RunLayout};
use shared::lines::Compression;
use storage::{get_json, put_json, ObjectMeta, ObjectStore, PutMode, StoreError};

/// Settings that shape a run's output; recorded in the plan and the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    pub raw_prefix: String,
    /// 0 = chosen from the input size by [`auto_partitions`] when the run is planned.
    pub partitions: u32,
    pub map_bytes: u64,
    pub flush_bytes: u64,
    pub max_line_bytes: u64,
    /// GeoIP databases (file name and date) the run was configured with.
    #[serde(default)]
    pub geoip_databases: Vec<String>,
    /// The PII redaction policy (DESIGN §6): the reference policy unless configured otherwise.
    #[serde(default)]
    pub pii: shared::jobs::PiiPolicyConfig,
    /// Exclusion lists (benchmark reservations, takedowns) copied into the run's keys.
    #[serde(default)]
    pub exclusions: Vec<shared::jobs::ExclusionRef>,
    /// The dataset card's license field and title.
    #[serde(default = "default_license")]
    pub license: String,
    #[serde(default = "default_pretty_name")]
    pub pretty_name: String,
    /// `gpu` routes the analyse jobs (which run the toxicity model) to the run's `partition-gpu`
    /// queue, which only workers with the gpu capability serve; `cpu` (the default) to `partition`.
    #[serde(default)]
    pub analyse_on: AnalyseOn,
}

/// Which pool of workers runs a run's analyse jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AnalyseOn {
    #[default]
    Cpu,
    Gpu,
}

fn default_license() -> String {
    "odc-by".to_string()
}

fn default_pretty_name() -> String {
    "WildChat-style conversations".to_string()
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            raw_prefix: "raw/".to_string(),
            partitions: 0,
            map_bytes: 64 << 20,
            flush_bytes: 64 << 20,
            max_line_bytes: 32 << 20,
            geoip_databases: Vec::new(),
            pii: shared::jobs::PiiPolicyConfig::default(),
            exclusions: Vec::new(),
            license: default_license(),
            pretty_name: default_pretty_name(),
            analyse_on: AnalyseOn::Cpu,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub run_id: String,
    pub version: String,
    pub created_at: String,
    pub code_version: String,
    pub config: PlanConfig,
    pub inputs: Vec<ObjectMeta>,
    pub map_jobs: Vec<MapJob>,
    /// What workers must have loaded to serve the run (and the PII policy): recorded once, at
    /// planning; a resumed run keeps it, and every worker checks its own against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<RunFingerprint>,
}

/// Partitions for an input of this size: about 256 MiB of raw rows each (compressed objects
/// weighted by a typical ratio of 5), at least 8. A partition job holds its rows in memory, so
/// this keeps a job's memory bounded as inputs grow.
pub fn auto_partitions(inputs: &[ObjectMeta]) -> u32 {
    const TARGET_BYTES: u64 = 256 << 20;
    let weighted: u64 = inputs
        .iter()
        .map(|object| match Compression::from_key(&object.key) {
            Compression::None => object.size,
            Compression::Gzip | Compression::Zstd => object.size.saturating_mul(5),
        })
        .sum();
    weighted.div_ceil(TARGET_BYTES).clamp(8, 4096) as u32
}

/// Program, version and the git commit it was built from (`unknown` outside a checkout).
pub fn code_version() -> String {
    release_cli::code_version()
}

/// Splits the input snapshot into map jobs.
pub fn plan_map_jobs(run_id: &str, inputs: &[ObjectMeta], config: &PlanConfig) -> Vec<MapJob> {
    let mut jobs = Vec::new();
    let range_bytes = config.map_bytes.max(1);
    for (object_index, object) in inputs.iter().enumerate() {
        let splittable = Compression::from_key(&object.key).splittable();
        let mut start = 0;
        loop {
            let end = if splittable {
                Some((start + range_bytes).min(object.size))
            } else {
                None
            };
            jobs.push(MapJob {
                run_id: run_id.to_string(),
                job_id: map_job_id(object_index, start),
                object: object.clone(),
                start,
                end,
                partitions: config.partitions,
                flush_bytes: config.flush_bytes,
                max_line_bytes: config.max_line_bytes,
            });
            match end {
                Some(end) if end < object.size => start = end,
                _ => break,
            }
        }
    }
    jobs
}

/// Loads the run's plan, or snapshots the inputs and writes a new one. A run is resumed only
/// with the resources it was planned with: a `fingerprint` that differs from the plan's is an
/// error naming the components.
pub async fn plan_or_resume(
    store: &dyn ObjectStore,
    run_id: &str,
    version: &str,
    config: &PlanConfig,
    fingerprint: Option<&ResourceFingerprint>,
) -> anyhow::Result<(RunPlan, bool)> {
    validate_name("run id", run_id).map_err(anyhow::Error::msg)?;
    validate_name("version", version).map_err(anyhow::Error::msg)?;
    let layout = RunLayout::new(run_id);
    if store.head(&layout.plan()).await?.is_some() {
        let plan: RunPlan = get_json(store, &layout.plan()).await?;
        if plan.version != version {
            bail!(
                "run {run_id} was planned for version {} not {version}; choose another --run-id",
                plan.version
            );
        }
        check_resume_fingerprint(&plan, fingerprint)?;
        return Ok((plan, true));
    }
    let inputs: Vec<ObjectMeta> = store
        .list(&config.raw_prefix)
        .await
        .with_context(|| format!("listing {}", config.raw_prefix))?
        .into_iter()
        .filter(|object| !object.key.ends_with('/'))
        .collect();
    if inputs.is_empty() {
        bail!(
            "no input objects under {} in {}; write raw logs there first (e.g. coordinator generate)",
            config.raw_prefix,
            store.describe()
        );
    }
    let mut config = config.clone();
    if config.partitions == 0 {
        config.partitions = auto_partitions(&inputs);
    }
    let plan = RunPlan {
        run_id: run_id.to_string(),
        version: version.to_string(),
        created_at: chrono::Utc::now().to_rfc3339(),
        code_version: code_version(),
        map_jobs: plan_map_jobs(run_id, &inputs, &config),
        fingerprint: fingerprint.map(|resources| RunFingerprint {
            resources: resources.clone(),
            pii_policy: config.pii.clone(),
        }),
        config,
        inputs,
    };
    match put_json(store, &layout.plan(), &plan, PutMode::CreateIfAbsent).await {
        Ok(_) => Ok((plan, false)),
        // Another coordinator planned the same run a moment ago: use its plan.
        Err(StoreError::PreconditionFailed { .. }) => {
            let plan: RunPlan = get_json(store, &layout.plan()).await?;
            check_resume_fingerprint(&plan, fingerprint)?;
            Ok((plan, true))
        }
        Err(error) => Err(error.into()),
    }
}

/// A coordinator resuming a run must load what the run was planned with, or its workers would
/// not match the run and the release would mix two configurations.
fn check_resume_fingerprint(plan: &RunPlan, fingerprint: Option<&ResourceFingerprint>) -> anyhow::Result<()> {
    let (Some(planned), Some(mine)) = (&plan.fingerprint, fingerprint) else {
        return Ok(());
    };
    let differences = mine.differences(&planned.resources);
    if differences.is_empty() {
        return Ok(());
    }
    let details: Vec<String> = differences
        .iter()
        .map(|component| {
            format!(
                "{component}: planned {}, now {}",
                planned.resources.describe(component),
                mine.describe(component)
            )
        })
        .collect();
    bail!(
        "run {} was planned with other resources than this coordinator loaded ({}); resume it with the \
         salt, GeoIP databases and models it was planned with, or start a new run with another --run-id",
        plan.run_id,
        details.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size,
            etag: "e".into(),
        }
    }

    #[test]
    fn plain_objects_are_split_and_compressed_ones_are_not() {
        let config = PlanConfig {
            map_bytes: 100,
            partitions: 4,
            ..PlanConfig::default()
        };
        let inputs = vec![
            object("raw/a.jsonl", 250),
            object("raw/b.jsonl.gz", 1000),
            object("raw/c.jsonl", 0),
        ];
        let jobs = plan_map_jobs("r", &inputs, &config);
        let ranges: Vec<(&str, u64, Option<u64>)> = jobs
            .iter()
            .map(|job| (job.object.key.as_str(), job.start, job.end))
            .collect();
        assert_eq!(
            ranges,
            vec![
                ("raw/a.jsonl", 0, Some(100)),
                ("raw/a.jsonl", 100, Some(200)),
                ("raw/a.jsonl", 200, Some(250)),
                ("raw/b.jsonl.gz", 0, None),
                ("raw/c.jsonl", 0, Some(0)),
            ]
        );
        assert_eq!(auto_partitions(&inputs), 8);
        assert_eq!(auto_partitions(&[object("raw/big.jsonl.zst", 10 << 30)]), 200);
        let mut ids: Vec<&str> = jobs.iter().map(|job| job.job_id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), jobs.len());
    }
}
