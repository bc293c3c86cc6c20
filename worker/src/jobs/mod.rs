//! Job implementations. Each reads its inputs from the store, calls pure stage code, writes
//! its outputs to deterministic keys and its completion marker last.

pub mod finalise;
pub mod map;
pub mod partition;

use std::sync::Arc;

use shared::jobs::JobPayload;
use storage::ObjectStore;

use crate::enrich::Enrichment;

/// What a finished job reports to the runner (for progress and metrics).
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    pub rows: u64,
}

/// Runs any job payload.
pub async fn run_job(
    store: Arc<dyn ObjectStore>,
    payload: JobPayload,
    enrichment: Arc<Enrichment>,
) -> anyhow::Result<JobReport> {
    match payload {
        JobPayload::Map(job) => {
            let outcome = map::run_map_job(store, job).await?;
            Ok(JobReport {
                rows: outcome.counters.get("lines_read"),
            })
        }
        JobPayload::Partition(job) => {
            let outcome = partition::run_partition_job(store, job, enrichment).await?;
            Ok(JobReport {
                rows: outcome.counters.get("turns"),
            })
        }
        JobPayload::Finalise(job) => {
            let outcome = finalise::run_finalise_job(store, job, enrichment).await?;
            Ok(JobReport {
                rows: outcome.shards.get("full").map_or(0, |shard| shard.rows),
            })
        }
    }
}
