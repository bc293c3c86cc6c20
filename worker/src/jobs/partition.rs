//! The partition job: gather one partition's fragments from every map job, link the rows
//! into conversations, run the per-conversation stages and write the partition's shard.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shared::counters::Counters;
use shared::jobs::{PartitionJob, PartitionOutcome, RunLayout, ShardInfo};
use shared::raw::LinkRow;
use shared::store::{get_json, put_json, ObjectStore, PutMode, StoreError};

use crate::assemble::assemble_conversation;
use crate::enrich::Enrichment;
use crate::link::link_rows;
use crate::release::write_parquet;

/// Decodes one fragment (zstd JSON lines of [`LinkRow`]).
pub fn decode_fragment(key: &str, compressed: &[u8], rows: &mut Vec<LinkRow>) -> anyhow::Result<()> {
    let plain = zstd::stream::decode_all(compressed).with_context(|| format!("decompressing fragment {key}"))?;
    for (index, line) in plain.lines().enumerate() {
        let line = line.with_context(|| format!("reading fragment {key}"))?;
        let row: LinkRow =
            serde_json::from_str(&line).with_context(|| format!("fragment {key} line {} is not a row", index + 1))?;
        rows.push(row);
    }
    Ok(())
}

/// Runs a partition job, or returns the recorded outcome if it already completed.
pub async fn run_partition_job(
    store: Arc<dyn ObjectStore>,
    job: PartitionJob,
    enrichment: Arc<Enrichment>,
) -> anyhow::Result<PartitionOutcome> {
    let layout = RunLayout::new(&job.run_id);
    let marker_key = layout.partition_marker(job.partition);
    if store.head(&marker_key).await?.is_some() {
        return Ok(get_json(store.as_ref(), &marker_key).await?);
    }
    let mut rows = Vec::new();
    for key in &job.fragments {
        let compressed = store
            .get(key)
            .await
            .with_context(|| format!("reading fragment {key}"))?;
        decode_fragment(key, &compressed, &mut rows)?;
    }
    let (outcome, shard_bytes) = tokio::task::spawn_blocking(move || build_shard(job.partition, rows, &enrichment))
        .await
        .context("partition job task panicked")??;
    if let (Some(shard), Some(bytes)) = (&outcome.shard, shard_bytes) {
        store
            .put(
                &layout.partition_shard(job.partition),
                Bytes::from(bytes),
                PutMode::Overwrite,
            )
            .await
            .with_context(|| format!("writing shard {}", shard.key))?;
    }
    let outcome = PartitionOutcome {
        shard: outcome.shard.map(|shard| ShardInfo {
            key: layout.partition_shard(job.partition),
            ..shard
        }),
        ..outcome
    };
    match put_json(store.as_ref(), &marker_key, &outcome, PutMode::CreateIfAbsent).await {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(outcome),
        Err(error) => Err(error.into()),
    }
}

/// Links and assembles one partition and encodes its shard (pure, CPU only).
pub fn build_shard(
    partition: u32,
    mut rows: Vec<LinkRow>,
    enrichment: &Enrichment,
) -> anyhow::Result<(PartitionOutcome, Option<Vec<u8>>)> {
    let linked = link_rows(&rows);
    let conversations: Vec<_> = linked
        .conversations
        .iter()
        .map(|chain| assemble_conversation(&mut rows, chain, enrichment))
        .collect();
    drop(rows);
    let mut counters = Counters::default();
    counters.add("conversations", conversations.len() as u64);
    counters.add(
        "turns",
        conversations.iter().map(|conversation| conversation.turn as u64).sum(),
    );
    counters.add("chains_dropped.missing_parent", linked.dropped_chains);
    counters.add("rows_dropped.missing_parent", linked.dropped_rows);
    if conversations.is_empty() {
        return Ok((
            PartitionOutcome {
                partition,
                shard: None,
                counters,
            },
            None,
        ));
    }
    let bytes = write_parquet(&conversations).with_context(|| format!("encoding partition {partition}"))?;
    let shard = ShardInfo {
        key: String::new(),
        rows: conversations.len() as u64,
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    Ok((
        PartitionOutcome {
            partition,
            shard: Some(shard),
            counters,
        },
        Some(bytes),
    ))
}
