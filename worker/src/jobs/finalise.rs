//! The finalise job: once the coordinator has merged the run's PII counts, redact one
//! partition's analysed conversations by policy, compute their conversation hashes and write the
//! partition's shard (DESIGN §6, order of work).

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shared::counters::Counters;
use shared::jobs::{FinaliseJob, FinaliseOutcome, RunLayout, ShardInfo};
use shared::store::{get_json, put_json, ObjectStore, PutMode, StoreError};

use crate::enrich::Enrichment;
use crate::jobs::partition::decode_analysed;
use crate::redaction::{build_policy, finalise_conversations, FrequentSet};
use crate::release::write_parquet;

/// Runs a finalise job, or returns the recorded outcome if it already completed.
pub async fn run_finalise_job(
    store: Arc<dyn ObjectStore>,
    job: FinaliseJob,
    enrichment: Arc<Enrichment>,
) -> anyhow::Result<FinaliseOutcome> {
    let layout = RunLayout::new(&job.run_id);
    let marker_key = layout.finalise_marker(job.partition);
    if store.head(&marker_key).await?.is_some() {
        return Ok(get_json(store.as_ref(), &marker_key).await?);
    }
    let partition = job.partition;
    let Some(analysed_key) = job.analysed.clone() else {
        let outcome = FinaliseOutcome {
            partition,
            shard: None,
            counters: Counters::default(),
            work: Counters::default(),
        };
        return record(store.as_ref(), &marker_key, outcome).await;
    };
    let analysed_bytes = store
        .get(&analysed_key)
        .await
        .with_context(|| format!("reading {analysed_key}"))?;
    let frequent_bytes = store
        .get(&job.frequent)
        .await
        .with_context(|| format!("reading {}", job.frequent))?;
    let frequent_key = job.frequent.clone();
    let pii_config = job.pii.clone();
    let (shard_bytes, rows, counters) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let policy = build_policy(&pii_config, enrichment.salt.as_ref())?;
        let frequent =
            FrequentSet::decode(&frequent_bytes).with_context(|| format!("reading the frequent set {frequent_key}"))?;
        let analysed = decode_analysed(&analysed_key, &analysed_bytes)?;
        let mut counters = Counters::default();
        let conversations =
            finalise_conversations(analysed, &policy, &frequent, pii::secrets::scanner(), &mut counters)
                .with_context(|| format!("redacting partition {partition}"))?;
        let bytes = write_parquet(&conversations).with_context(|| format!("encoding partition {partition}"))?;
        Ok((bytes, conversations.len() as u64, counters))
    })
    .await
    .context("finalise job task panicked")??;
    let shard_key = layout.partition_shard(partition);
    let shard = ShardInfo {
        key: shard_key.clone(),
        rows,
        bytes: shard_bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&shard_bytes)),
    };
    store
        .put(&shard_key, Bytes::from(shard_bytes), PutMode::Overwrite)
        .await
        .with_context(|| format!("writing shard {shard_key}"))?;
    let outcome = FinaliseOutcome {
        partition,
        shard: Some(shard),
        counters,
        work: Counters::default(),
    };
    record(store.as_ref(), &marker_key, outcome).await
}

/// Writes the completion marker; when another attempt's marker is already there, that one is
/// the record (the shard both wrote is byte-identical).
async fn record(
    store: &dyn ObjectStore,
    marker_key: &str,
    outcome: FinaliseOutcome,
) -> anyhow::Result<FinaliseOutcome> {
    match put_json(store, marker_key, &outcome, PutMode::CreateIfAbsent).await {
        Ok(_) => Ok(outcome),
        Err(StoreError::PreconditionFailed { .. }) => Ok(get_json(store, marker_key).await?),
        Err(error) => Err(error.into()),
    }
}
