//! The analyse (partition) job: gather one partition's fragments from every map job, link the
//! rows into conversations, run the per-turn stages (language, geo, moderation, toxicity, PII
//! detection) and
//! write the analysed conversations and the partition's PII document-frequency counts. The
//! finalise job (`finalise.rs`) redacts and writes the shard once the run-wide counts are known.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use shared::counters::Counters;
use shared::jobs::{AnalyseOutcome, PartitionJob, RunLayout};
use shared::raw::LinkRow;
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};

use moderation::cache::ModerationCache;
use moderation::ModerationClient;
use toxicity::cache::ScoreCache;
use toxicity::{is_toxic, ScoreStats, ToxicityModel};

use crate::assemble::{assemble_unlabelled, label_languages, GeoCounts};
use crate::enrich::Enrichment;
use crate::redaction::{build_policy, detect_conversations, AnalysedConversation, DocCounts};
use link::link_rows;
use rayon::prelude::*;
use release::record::Conversation;

/// A turn's scores are stored position by position, so the toxicity crate's key order must be
/// the release record's; checked when this crate compiles.
const _: () = assert!(
    same_keys(&toxicity::DETOXIFY_KEYS, &release::record::DETOXIFY_KEYS),
    "toxicity::DETOXIFY_KEYS and release::record::DETOXIFY_KEYS differ"
);

const fn same_keys(left: &[&str], right: &[&str]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let mut index = 0;
    while index < left.len() {
        let (a, b) = (left[index].as_bytes(), right[index].as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut byte = 0;
        while byte < a.len() {
            if a[byte] != b[byte] {
                return false;
            }
            byte += 1;
        }
        index += 1;
    }
    true
}

/// Where a partition's toxicity scores are kept between runs of the same model: a rerun scores
/// only texts it has not seen (DESIGN §6, toxicity result cache).
pub fn toxicity_cache_key(model_id: &str, partition: u32) -> String {
    cache_key("toxicity", model_id, partition)
}

/// Where a partition's moderation answers are kept between runs of the same source.
pub fn moderation_cache_key(source_id: &str, partition: u32) -> String {
    cache_key("moderation", source_id, partition)
}

fn cache_key(kind: &str, id: &str, partition: u32) -> String {
    let id: String = id
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || ".-_".contains(character) {
                character
            } else {
                '-'
            }
        })
        .collect();
    format!("cache/{kind}/{id}/p{partition:05}.bin")
}

/// A partition's cache from an earlier run (toxicity scores or moderation answers), or an empty
/// one. A cache that cannot be read is only a lost saving: it is reported and ignored.
async fn load_cache<C: Default>(
    store: &dyn ObjectStore,
    key: &str,
    what: &str,
    decode: impl Fn(&[u8]) -> Result<C, String>,
) -> C {
    match store.get(key).await {
        Ok(bytes) => decode(&bytes).unwrap_or_else(|error| {
            tracing::warn!(key, %error, cache = what, "ignoring an unreadable cache object");
            C::default()
        }),
        Err(StoreError::NotFound { .. }) => C::default(),
        Err(error) => {
            tracing::warn!(key, %error, cache = what, "cannot read the cache; every text is asked about again");
            C::default()
        }
    }
}

/// The moderation part of an analyse job: the client, the runtime its requests run on (the
/// job's CPU work runs on a blocking thread, which waits for them) and the partition's cache.
pub struct ModerationStep {
    pub client: Arc<ModerationClient>,
    pub runtime: tokio::runtime::Handle,
    pub cache: ModerationCache,
}

/// Asks the moderation source about every non-empty turn (unredacted text, DESIGN §6) and fills
/// the turns' `openai_moderation`. Texts seen before come from the step's cache, which afterwards
/// holds exactly this partition's texts. A text the source cannot answer after its retries fails
/// the job (the queue retries it), never a silent null.
pub fn moderate_conversations(
    conversations: &mut [Conversation],
    step: &mut ModerationStep,
    counters: &mut Counters,
    work: &mut Counters,
) -> anyhow::Result<()> {
    let source = step.client.source_id();
    let texts: Vec<&str> = conversations
        .iter()
        .flat_map(|conversation| conversation.turns.iter().map(|turn| turn.content.as_str()))
        .filter(|content| !content.is_empty())
        .collect();
    let (results, cached) = step
        .runtime
        .block_on(step.cache.moderate(&step.client, &source, &texts))
        .context("moderating turns")?;
    let keep: std::collections::HashSet<_> = texts
        .iter()
        .map(|text| moderation::cache::text_key(&source, text))
        .collect();
    let asked = texts.len() as u64 - cached;
    drop(texts);
    step.cache.retain(&keep);
    let mut results = results.into_iter();
    let mut flagged_turns = 0u64;
    for turn in conversations
        .iter_mut()
        .flat_map(|conversation| conversation.turns.iter_mut())
    {
        if turn.content.is_empty() {
            continue;
        }
        let result = results
            .next()
            .context("the moderation source answered fewer texts than asked")?;
        flagged_turns += u64::from(result.flagged);
        turn.moderation = Some(result);
    }
    work.add("moderation.texts_moderated", asked);
    work.add("moderation.cache_hits", cached);
    counters.add("moderation_flagged_turns", flagged_turns);
    Ok(())
}

/// Scores every turn (unredacted text, DESIGN §6), fills `detoxify_moderation` and the turn
/// and conversation `toxic` flags, and counts what the data holds (`counters`) and what was
/// done (`work`). Texts seen before come from `cache`; afterwards `cache` holds exactly this
/// partition's texts.
pub fn score_toxicity(
    conversations: &mut [Conversation],
    model: &dyn ToxicityModel,
    cache: &mut ScoreCache,
    counters: &mut Counters,
    work: &mut Counters,
) -> anyhow::Result<()> {
    // An empty turn is not scored: its scores are null, as the reference stores them. A routed
    // model picks each turn's model by its language label.
    let (texts, languages): (Vec<&str>, Vec<Option<&str>>) = conversations
        .iter()
        .flat_map(|conversation| conversation.turns.iter())
        .filter(|turn| !turn.content.is_empty())
        .map(|turn| (turn.content.as_str(), turn.language.as_deref()))
        .unzip();
    let mut stats = ScoreStats::default();
    let scores = cache
        .score(model, &texts, &languages, &mut stats)
        .context("scoring toxicity")?;
    let keep: std::collections::HashSet<_> = texts
        .iter()
        .map(|text| toxicity::cache::text_key(model.id(), text))
        .collect();
    cache.retain(&keep);
    let mut scores = scores.into_iter();
    let (mut toxic_turns, mut toxic_conversations) = (0u64, 0u64);
    for conversation in conversations.iter_mut() {
        let mut any = false;
        for turn in &mut conversation.turns {
            if turn.content.is_empty() {
                turn.detoxify = None;
                turn.toxic = Some(false);
                continue;
            }
            let turn_scores = scores.next().expect("one score per non-empty turn");
            // Without a moderation source its flag is absent (DESIGN §6).
            let moderation_flagged = turn.moderation.is_some_and(|moderation| moderation.flagged);
            let threshold = model.threshold_for(turn.language.as_deref());
            let toxic = is_toxic(&turn.content, &turn_scores, moderation_flagged, threshold);
            turn.detoxify = Some(turn_scores.map(|score| score.map(f64::from)));
            turn.toxic = Some(toxic);
            any |= toxic;
            toxic_turns += u64::from(toxic);
        }
        conversation.toxic = Some(any);
        toxic_conversations += u64::from(any);
    }
    work.add("toxicity.texts_scored", stats.texts);
    work.add("toxicity.cache_hits", stats.cached);
    work.add("toxicity.split_texts", stats.split_texts);
    counters.add("toxic_turns", toxic_turns);
    counters.add("toxic_conversations", toxic_conversations);
    Ok(())
}

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

/// Runs an analyse job, or returns the recorded outcome if it already completed.
pub async fn run_partition_job(
    store: Arc<dyn ObjectStore>,
    job: PartitionJob,
    enrichment: Arc<Enrichment>,
) -> anyhow::Result<AnalyseOutcome> {
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
    let cache_key = enrichment
        .toxicity
        .as_ref()
        .map(|model| toxicity_cache_key(model.id(), job.partition));
    let mut cache = match &cache_key {
        Some(key) => {
            load_cache(store.as_ref(), key, "toxicity", |bytes| {
                ScoreCache::decode(bytes).map_err(|error| error.to_string())
            })
            .await
        }
        None => ScoreCache::default(),
    };
    let moderation_key = enrichment
        .moderation
        .as_ref()
        .map(|client| moderation_cache_key(&client.source_id(), job.partition));
    let mut moderation = match (&enrichment.moderation, &moderation_key) {
        (Some(client), Some(key)) => Some(ModerationStep {
            client: Arc::clone(client),
            runtime: tokio::runtime::Handle::current(),
            cache: load_cache(store.as_ref(), key, "moderation", ModerationCache::decode).await,
        }),
        _ => None,
    };
    let partition = job.partition;
    let pii_config = job.pii.clone();
    let (analysed, cache, moderation) = tokio::task::spawn_blocking(move || {
        analyse_partition(
            partition,
            rows,
            &enrichment,
            &mut cache,
            moderation.as_mut(),
            &pii_config,
        )
        .map(|analysed| (analysed, cache, moderation))
    })
    .await
    .context("partition job task panicked")??;
    if let Some(key) = &cache_key {
        if let Err(error) = store.put(key, Bytes::from(cache.encode()), PutMode::Overwrite).await {
            tracing::warn!(key, %error, "cannot write the toxicity cache; the next run scores these texts again");
        }
    }
    if let (Some(key), Some(step)) = (&moderation_key, &moderation) {
        if let Err(error) = store
            .put(key, Bytes::from(step.cache.encode()), PutMode::Overwrite)
            .await
        {
            tracing::warn!(key, %error, "cannot write the moderation cache; the next run asks about these texts again");
        }
    }
    let PartitionAnalysis {
        conversations,
        encoded,
        counts,
        counters,
        work,
    } = analysed;
    let analysed_key = match encoded {
        Some(bytes) => {
            let key = layout.partition_analysed(partition);
            store
                .put(&key, Bytes::from(bytes), PutMode::Overwrite)
                .await
                .with_context(|| format!("writing {key}"))?;
            Some(key)
        }
        None => None,
    };
    let counts_key = match counts {
        Some(bytes) => {
            let key = layout.partition_pii_counts(partition);
            store
                .put(&key, Bytes::from(bytes), PutMode::Overwrite)
                .await
                .with_context(|| format!("writing {key}"))?;
            Some(key)
        }
        None => None,
    };
    let outcome = AnalyseOutcome {
        partition,
        analysed: analysed_key,
        conversations,
        pii_counts: counts_key,
        counters,
        work,
    };
    match put_json(store.as_ref(), &marker_key, &outcome, PutMode::CreateIfAbsent).await {
        Ok(_) => Ok(outcome),
        // Another attempt finished first (a lease that expired while this one ran): its
        // marker, not ours, is the record, and the objects we wrote were byte-identical.
        Err(StoreError::PreconditionFailed { .. }) => Ok(get_json(store.as_ref(), &marker_key).await?),
        Err(error) => Err(error.into()),
    }
}

/// What analysing one partition produced, before it is stored.
pub struct PartitionAnalysis {
    pub conversations: u64,
    /// The analysed conversations as zstd JSON lines; None when there are none.
    pub encoded: Option<Vec<u8>>,
    /// The encoded PII document-frequency counts; None when nothing was counted.
    pub counts: Option<Vec<u8>>,
    pub counters: Counters,
    pub work: Counters,
}

/// Links, assembles and analyses one partition (pure, CPU only).
pub fn analyse_partition(
    partition: u32,
    mut rows: Vec<LinkRow>,
    enrichment: &Enrichment,
    toxicity_cache: &mut ScoreCache,
    moderation: Option<&mut ModerationStep>,
    pii_config: &shared::jobs::PiiPolicyConfig,
) -> anyhow::Result<PartitionAnalysis> {
    let policy = build_policy(pii_config, enrichment.salt.as_ref())?;
    let linked = link_rows(&rows);
    let mut geo = GeoCounts::default();
    let mut conversations: Vec<_> = linked
        .conversations
        .iter()
        .map(|chain| assemble_unlabelled(&mut rows, chain, enrichment, &mut geo))
        .collect();
    drop(rows);
    // Language labels, the heaviest step, on every core the job has (rayon's pool); each
    // conversation's labels depend on its own texts only, so the order does not matter.
    let detector = enrichment.language.as_deref();
    conversations
        .par_iter_mut()
        .for_each(|conversation| label_languages(conversation, detector));
    let mut counters = Counters::default();
    // DESIGN §8: a turn left without a place is counted by cause, never silent.
    geo.add_to(&mut counters);
    let mut work = Counters::default();
    // Moderation before toxicity: a turn the source flags is toxic (DESIGN §6).
    if let Some(step) = moderation {
        moderate_conversations(&mut conversations, step, &mut counters, &mut work)
            .with_context(|| format!("partition {partition}"))?;
    }
    if let Some(model) = &enrichment.toxicity {
        score_toxicity(
            &mut conversations,
            model.as_ref(),
            toxicity_cache,
            &mut counters,
            &mut work,
        )
        .with_context(|| format!("partition {partition}"))?;
    }
    counters.add("conversations", conversations.len() as u64);
    counters.add(
        "turns",
        conversations.iter().map(|conversation| conversation.turn as u64).sum(),
    );
    counters.add("chains_dropped.missing_parent", linked.dropped_chains);
    counters.add("rows_dropped.missing_parent", linked.dropped_rows);
    let total = conversations.len() as u64;
    let (analysed, counts) = detect_conversations(
        conversations,
        &policy,
        pii::detector(),
        enrichment.pii_ner.as_deref(),
        &mut counters,
    )
    .with_context(|| format!("partition {partition}"))?;
    let counts = if counts.is_empty() {
        None
    } else {
        Some(counts.encode().with_context(|| format!("partition {partition}"))?)
    };
    let encoded = if analysed.is_empty() {
        None
    } else {
        Some(encode_analysed(&analysed).with_context(|| format!("encoding partition {partition}"))?)
    };
    Ok(PartitionAnalysis {
        conversations: total,
        encoded,
        counts,
        counters,
        work,
    })
}

/// zstd JSON lines, one analysed conversation per line.
pub fn encode_analysed(conversations: &[AnalysedConversation]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3)?;
    for conversation in conversations {
        serde_json::to_writer(&mut encoder, conversation)?;
        std::io::Write::write_all(&mut encoder, b"\n")?;
    }
    Ok(encoder.finish()?)
}

pub fn decode_analysed(key: &str, compressed: &[u8]) -> anyhow::Result<Vec<AnalysedConversation>> {
    // Streamed: the decompressed partition is never held whole beside its conversations.
    let plain = std::io::BufReader::new(
        zstd::stream::read::Decoder::with_buffer(compressed).with_context(|| format!("decompressing {key}"))?,
    );
    let mut conversations = Vec::new();
    for (index, line) in plain.lines().enumerate() {
        let line = line.with_context(|| format!("decompressing or reading {key}"))?;
        conversations.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{key} line {} is not an analysed conversation", index + 1))?,
        );
    }
    Ok(conversations)
}

/// Counts of a partition, decoded (for the coordinator's merge).
pub fn decode_counts(key: &str, bytes: &[u8]) -> anyhow::Result<DocCounts> {
    DocCounts::decode(bytes).with_context(|| format!("reading pii counts {key}"))
}
