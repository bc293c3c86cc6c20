//! Scores keyed by sha256(model id, text): a text seen before is not scored again. The worker
//! keeps one cache per job and persists it in the store, so a rerun with the same model scores
//! nothing it has scored before.

use anyhow::bail;
use shared::text_cache::TextCache;
pub use shared::text_cache::{text_key, TextKey};

use crate::{ScoreStats, Scores, ToxicityModel};

/// Scores by text key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScoreCache {
    entries: TextCache<Scores>,
}

const MAGIC: &[u8; 8] = b"WCTOX001";
/// A presence mask, then the seven scores as f32.
const ENTRY_BYTES: usize = 1 + 7 * 4;

impl ScoreCache {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &TextKey) -> Option<&Scores> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: TextKey, scores: Scores) {
        self.entries.insert(key, scores);
    }

    /// Scores `texts` (labelled `languages`, one per text, for a routed model): cached ones from
    /// the cache, the rest (each distinct text once) from `model`, whose answers are added.
    /// Returns one [`Scores`] per text, in order. A text's label is a function of the text, so a
    /// text's scores do not depend on where it was met.
    pub fn score(
        &mut self,
        model: &dyn ToxicityModel,
        texts: &[&str],
        languages: &[Option<&str>],
        stats: &mut ScoreStats,
    ) -> anyhow::Result<Vec<Scores>> {
        if languages.len() != texts.len() {
            bail!("{} language labels for {} texts", languages.len(), texts.len());
        }
        let lookup = self.entries.lookup(model.id(), texts);
        stats.cached += lookup.cached();
        let missing_languages: Vec<Option<&str>> =
            lookup.missing_positions.iter().map(|&index| languages[index]).collect();
        let fresh = model.score_labelled(&lookup.missing, &missing_languages, stats)?;
        match self.entries.complete(lookup, fresh) {
            Ok(scores) => Ok(scores),
            Err(reason) => bail!("the model returned {reason}"),
        }
    }

    /// Keeps only the entries of `keys` (the texts a job still has), so a persisted cache
    /// does not grow from run to run.
    pub fn retain(&mut self, keys: &std::collections::HashSet<TextKey>) {
        self.entries.retain(keys);
    }

    /// A compact binary form, entries sorted by key so equal caches encode equally.
    pub fn encode(&self) -> Vec<u8> {
        self.entries.encode(MAGIC, ENTRY_BYTES, |scores, bytes| {
            let present = scores
                .iter()
                .enumerate()
                .fold(0u8, |mask, (index, score)| mask | ((score.is_some() as u8) << index));
            bytes.push(present);
            for score in scores {
                bytes.extend_from_slice(&score.unwrap_or(0.0).to_le_bytes());
            }
        })
    }

    pub fn decode(bytes: &[u8]) -> anyhow::Result<ScoreCache> {
        let entries = TextCache::decode(bytes, MAGIC, ENTRY_BYTES, |entry| {
            let present = entry[0];
            let mut scores: Scores = [None; 7];
            for (index, slot) in scores.iter_mut().enumerate() {
                if present & (1 << index) != 0 {
                    let offset = 1 + index * 4;
                    let mut score = [0u8; 4];
                    score.copy_from_slice(&entry[offset..offset + 4]);
                    *slot = Some(f32::from_le_bytes(score));
                }
            }
            scores
        });
        match entries {
            Ok(entries) => Ok(ScoreCache { entries }),
            Err(reason) => bail!("toxicity score cache: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Scores a text by its length and counts the texts it was asked for.
    struct Counting(AtomicU64);

    impl ToxicityModel for Counting {
        fn id(&self) -> &str {
            "counting"
        }
        fn threshold(&self) -> f32 {
            crate::DETOXIFY_THRESHOLD
        }
        fn describe(&self) -> String {
            "counting".into()
        }
        fn score(&self, texts: &[&str], stats: &mut ScoreStats) -> anyhow::Result<Vec<Scores>> {
            self.0.fetch_add(texts.len() as u64, Ordering::Relaxed);
            stats.texts += texts.len() as u64;
            Ok(texts
                .iter()
                .map(|text| {
                    let mut scores: Scores = [None; 7];
                    scores[crate::TOXICITY] = Some(text.len() as f32 / 100.0);
                    scores
                })
                .collect())
        }
    }

    #[test]
    fn each_distinct_text_is_scored_once_and_the_cache_round_trips() {
        let model = Counting(AtomicU64::new(0));
        let mut cache = ScoreCache::default();
        let mut stats = ScoreStats::default();
        let scores = cache
            .score(&model, &["a", "bb", "a", "ccc", "bb"], &[None; 5], &mut stats)
            .unwrap();
        assert_eq!(model.0.load(Ordering::Relaxed), 3);
        assert_eq!(stats.cached, 2);
        assert_eq!(scores[2], scores[0]);
        assert_eq!(scores[3][crate::TOXICITY], Some(0.03));

        let restored = ScoreCache::decode(&cache.encode()).unwrap();
        assert_eq!(restored, cache);
        let mut restored = restored;
        let mut stats = ScoreStats::default();
        let again = restored
            .score(&model, &["ccc", "dddd"], &[None; 2], &mut stats)
            .unwrap();
        assert_eq!(model.0.load(Ordering::Relaxed), 4, "only the new text is scored");
        assert_eq!(again[0], scores[3]);
        assert!(ScoreCache::decode(b"garbage").is_err());
        assert!(ScoreCache::decode(&cache.encode()[..20]).is_err());
    }
}
