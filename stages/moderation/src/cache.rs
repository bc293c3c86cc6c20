//! Moderation answers keyed by sha256(source id, text), kept per partition in the store like
//! the toxicity score cache: a rerun with the same source asks the endpoint only about texts it
//! has not seen (each distinct text once), which saves money as well as time.

use std::collections::HashSet;

use shared::text_cache::TextCache;
pub use shared::text_cache::{text_key, TextKey};

use crate::client::{ModerationClient, ModerationError};
use crate::{ModerationResult, CATEGORIES};

const MAGIC: &[u8; 8] = b"WCMOD001";
/// `flagged`, three 18-bit masks (category answered, category true, score answered), the scores.
const ENTRY_BYTES: usize = 1 + 3 * 4 + CATEGORIES.len() * 8;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ModerationCache {
    entries: TextCache<ModerationResult>,
}

impl ModerationCache {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Answers for `texts` in order: cached ones from the cache, the rest (each distinct text
    /// once) from `client`, whose answers are added. Returns them with the number of texts
    /// answered from the cache.
    pub async fn moderate(
        &mut self,
        client: &ModerationClient,
        source_id: &str,
        texts: &[&str],
    ) -> Result<(Vec<ModerationResult>, u64), ModerationError> {
        let lookup = self.entries.lookup(source_id, texts);
        let cached = lookup.cached();
        let fresh = client.moderate(&lookup.missing).await?;
        // The client returns one answer per text or an error, so the counts agree.
        let answers = self
            .entries
            .complete(lookup, fresh)
            .map_err(|reason| ModerationError::Refused {
                url: client.source_id(),
                reason,
            })?;
        Ok((answers, cached))
    }

    /// Keeps only the entries of `keys`, so a persisted cache does not grow from run to run.
    pub fn retain(&mut self, keys: &HashSet<TextKey>) {
        self.entries.retain(keys);
    }

    /// A compact binary form, entries sorted by key so equal caches encode equally.
    pub fn encode(&self) -> Vec<u8> {
        self.entries.encode(MAGIC, ENTRY_BYTES, |result, bytes| {
            bytes.push(u8::from(result.flagged));
            let mask = |present: &dyn Fn(usize) -> bool| {
                (0..CATEGORIES.len()).fold(0u32, |mask, index| mask | (u32::from(present(index)) << index))
            };
            bytes.extend_from_slice(&mask(&|index| result.categories[index].is_some()).to_le_bytes());
            bytes.extend_from_slice(&mask(&|index| result.categories[index] == Some(true)).to_le_bytes());
            bytes.extend_from_slice(&mask(&|index| result.category_scores[index].is_some()).to_le_bytes());
            for score in &result.category_scores {
                bytes.extend_from_slice(&score.unwrap_or(0.0).to_le_bytes());
            }
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<ModerationCache, String> {
        let entries = TextCache::decode(bytes, MAGIC, ENTRY_BYTES, |entry| {
            let word = |offset: usize| {
                let mut word = [0u8; 4];
                word.copy_from_slice(&entry[offset..offset + 4]);
                u32::from_le_bytes(word)
            };
            let (present, values, scored) = (word(1), word(5), word(9));
            let mut result = ModerationResult {
                flagged: entry[0] != 0,
                categories: [None; 18],
                category_scores: [None; 18],
            };
            for index in 0..CATEGORIES.len() {
                if present & (1 << index) != 0 {
                    result.categories[index] = Some(values & (1 << index) != 0);
                }
                if scored & (1 << index) != 0 {
                    let offset = 13 + index * 8;
                    let mut score = [0u8; 8];
                    score.copy_from_slice(&entry[offset..offset + 8]);
                    result.category_scores[index] = Some(f64::from_le_bytes(score));
                }
            }
            result
        })
        .map_err(|reason| format!("moderation cache: {reason}"))?;
        Ok(ModerationCache { entries })
    }

    #[cfg(test)]
    fn insert(&mut self, key: TextKey, result: ModerationResult) {
        self.entries.insert(key, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_survives_encoding_with_partial_answers() {
        let mut cache = ModerationCache::default();
        let mut result = ModerationResult {
            flagged: true,
            categories: [None; 18],
            category_scores: [None; 18],
        };
        result.categories[0] = Some(true);
        result.categories[13] = Some(false);
        result.category_scores[13] = Some(0.125);
        result.category_scores[17] = Some(1e-9);
        cache.insert(text_key("openai:m@u", "a"), result);
        cache.insert(
            text_key("openai:m@u", "b"),
            ModerationResult {
                flagged: false,
                categories: [Some(false); 18],
                category_scores: [Some(0.5); 18],
            },
        );
        let encoded = cache.encode();
        assert_eq!(encoded.len(), 8 + 2 * (32 + ENTRY_BYTES));
        assert_eq!(ModerationCache::decode(&encoded).unwrap(), cache);
        assert!(ModerationCache::decode(&encoded[..encoded.len() - 1]).is_err());
        assert!(ModerationCache::decode(b"WCTOX001").is_err());
        assert_ne!(text_key("openai:m@u", "a"), text_key("openai:n@u", "a"));
    }
}
