//! The finalise job: once the coordinator has merged the run's PII counts, redact one
//! partition's analysed conversations by policy, compute their conversation hashes, apply the
//! release filters and write the partition's shard of each variant with its statistics partial
//! (DESIGN §6, order of work and release filters).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shared::counters::Counters;
use shared::jobs::{FinaliseJob, FinaliseOutcome, RunLayout, ShardInfo};
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};

use crate::enrich::Enrichment;
use crate::jobs::partition::decode_analysed;
use crate::redaction::{build_policy, finalise_conversations, FrequentSet};
use release::exclusions::ExclusionList;
use release::record::{write_parquet, Conversation};

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
            shards: BTreeMap::new(),
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
    let mut exclusions = Vec::new();
    for list in &job.exclusions {
        let bytes = store
            .get(&list.key)
            .await
            .with_context(|| format!("reading the exclusion list {}", list.key))?;
        exclusions.push((list.name.clone(), ExclusionList::parse(&list.key, &bytes)?));
    }
    let frequent_key = job.frequent.clone();
    let pii_config = job.pii.clone();
    let (variants, counters) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let policy = build_policy(&pii_config, enrichment.salt.as_ref())?;
        let frequent =
            FrequentSet::decode(&frequent_bytes).with_context(|| format!("reading the frequent set {frequent_key}"))?;
        let analysed = decode_analysed(&analysed_key, &analysed_bytes)?;
        let mut counters = Counters::default();
        let conversations = finalise_conversations(analysed, &policy, &frequent, credentials::scanner(), &mut counters)
            .with_context(|| format!("redacting partition {partition}"))?;
        let kept = apply_release_filters(conversations, &exclusions, &mut counters);
        counters.add("released_conversations.full", kept.len() as u64);
        // Both variants borrow the kept conversations: no second copy of the non-toxic ones.
        let full: Vec<&Conversation> = kept.iter().collect();
        let nontoxic: Vec<&Conversation> = full
            .iter()
            .copied()
            .filter(|conversation| conversation.toxic != Some(true))
            .collect();
        counters.add("released_conversations.nontoxic", nontoxic.len() as u64);
        let mut variants = Vec::new();
        for (variant, conversations) in [("full", full), ("nontoxic", nontoxic)] {
            if conversations.is_empty() {
                continue;
            }
            let bytes = write_parquet(&conversations)
                .with_context(|| format!("encoding the {variant} shard of partition {partition}"))?;
            let stats = release::stats::shard_stats(&bytes)
                .with_context(|| format!("statistics of the {variant} shard of partition {partition}"))?;
            let stats = serde_json::to_vec(&stats).context("encoding shard statistics")?;
            variants.push((variant, conversations.len() as u64, bytes, stats));
        }
        Ok((variants, counters))
    })
    .await
    .context("finalise job task panicked")??;
    let mut shards = BTreeMap::new();
    for (variant, rows, bytes, stats) in variants {
        let shard_key = layout.partition_shard(partition, variant);
        let stats_key = layout.partition_shard_stats(partition, variant);
        let shard = ShardInfo {
            key: shard_key.clone(),
            rows,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            stats_key: Some(stats_key.clone()),
        };
        store
            .put(&shard_key, Bytes::from(bytes), PutMode::Overwrite)
            .await
            .with_context(|| format!("writing shard {shard_key}"))?;
        store
            .put(&stats_key, Bytes::from(stats), PutMode::Overwrite)
            .await
            .with_context(|| format!("writing {stats_key}"))?;
        shards.insert(variant.to_string(), shard);
    }
    let outcome = FinaliseOutcome {
        partition,
        shards,
        counters,
        work: Counters::default(),
    };
    record(store.as_ref(), &marker_key, outcome).await
}

/// Leaves out what no variant may hold (DESIGN §6, release filters): conversations with a
/// turn the moderation source flagged `sexual/minors` (counted as `excluded.sexual_minors`;
/// none without a moderation source) and those on an exclusion list, counted by list name under
/// `excluded`.
pub fn apply_release_filters(
    conversations: Vec<Conversation>,
    exclusions: &[(String, ExclusionList)],
    counters: &mut Counters,
) -> Vec<Conversation> {
    let mut kept = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        if conversation
            .turns
            .iter()
            .any(|turn| turn.moderation.is_some_and(|moderation| moderation.sexual_minors()))
        {
            counters.add("excluded.sexual_minors", 1);
            continue;
        }
        let listed = exclusions.iter().find(|(_, list)| {
            list.matches(
                &conversation.conversation_hash,
                conversation.turns.iter().map(|turn| turn.turn_identifier),
            )
        });
        match listed {
            Some((name, _)) => counters.add(&format!("excluded.{name}"), 1),
            None => kept.push(conversation),
        }
    }
    kept
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

#[cfg(test)]
mod tests {
    use super::*;
    use release::record::{Role, Turn, TurnModeration};

    fn conversation(hash: &str, minors: Option<bool>) -> Conversation {
        let mut turns = vec![
            Turn::new(Role::User, "question".into(), 1),
            Turn::new(Role::Assistant, "answer".into(), 1),
        ];
        if let Some(flag) = minors {
            let mut categories = [Some(false); 18];
            categories[13] = Some(flag);
            categories[14] = Some(flag);
            turns[1].moderation = Some(TurnModeration {
                flagged: flag,
                categories,
                category_scores: [Some(0.0); 18],
            });
        }
        Conversation {
            conversation_hash: hash.into(),
            model: "gpt-4".into(),
            timestamp_us: 0,
            turns,
            turn: 1,
            language: None,
            toxic: None,
            redacted: None,
            state: None,
            country: None,
            hashed_ip: None,
            header: None,
        }
    }

    #[test]
    fn a_conversation_with_a_sexual_minors_flag_is_left_out_and_counted() {
        let mut counters = Counters::default();
        let kept = apply_release_filters(
            vec![
                conversation("a", None),
                conversation("b", Some(true)),
                conversation("c", Some(false)),
            ],
            &[],
            &mut counters,
        );
        let hashes: Vec<&str> = kept.iter().map(|kept| kept.conversation_hash.as_str()).collect();
        assert_eq!(hashes, ["a", "c"]);
        assert_eq!(counters.get("excluded.sexual_minors"), 1);
    }
}
