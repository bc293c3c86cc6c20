//! Answers per text (toxicity scores, moderation answers) keyed by sha256(source id, text), the
//! form the worker keeps per partition in the store so a rerun with the same model or source
//! asks only about texts it has not seen. The caller brings the answers and the fixed-size
//! binary form of one entry; this module does the keying, the deduplication and the file layout
//! (an 8-byte magic, then entries sorted by key so equal caches encode equally).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

pub type TextKey = [u8; 32];

/// The cache key of `text` under the model or source `source_id`.
pub fn text_key(source_id: &str, text: &str) -> TextKey {
    let mut hasher = Sha256::new();
    hasher.update(source_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// The texts of one request and what the cache lacks of them.
#[derive(Debug)]
pub struct Lookup<'a> {
    keys: Vec<TextKey>,
    /// Each distinct text the cache does not hold, once, in first-seen order.
    pub missing: Vec<&'a str>,
    /// Where each of `missing` first occurs among the texts.
    pub missing_positions: Vec<usize>,
    missing_keys: Vec<TextKey>,
}

impl Lookup<'_> {
    /// How many of the texts the cache answers (repeats of a missing text included).
    pub fn cached(&self) -> u64 {
        (self.keys.len() - self.missing.len()) as u64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextCache<V> {
    entries: HashMap<TextKey, V>,
}

impl<V> Default for TextCache<V> {
    fn default() -> Self {
        TextCache {
            entries: HashMap::new(),
        }
    }
}

impl<V: Copy> TextCache<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &TextKey) -> Option<&V> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: TextKey, value: V) {
        self.entries.insert(key, value);
    }

    /// Keys `texts` under `source_id` and lists what must still be asked.
    pub fn lookup<'a>(&self, source_id: &str, texts: &[&'a str]) -> Lookup<'a> {
        let keys: Vec<TextKey> = texts.iter().map(|text| text_key(source_id, text)).collect();
        let mut queued = HashSet::new();
        let (mut missing, mut missing_positions, mut missing_keys) = (Vec::new(), Vec::new(), Vec::new());
        for (position, (key, text)) in keys.iter().zip(texts).enumerate() {
            if !self.entries.contains_key(key) && queued.insert(*key) {
                missing.push(*text);
                missing_positions.push(position);
                missing_keys.push(*key);
            }
        }
        Lookup {
            keys,
            missing,
            missing_positions,
            missing_keys,
        }
    }

    /// Adds `fresh` (one answer per `lookup.missing`, in order) and returns one answer per text
    /// of the lookup, in order.
    pub fn complete(&mut self, lookup: Lookup<'_>, fresh: Vec<V>) -> Result<Vec<V>, String> {
        if fresh.len() != lookup.missing.len() {
            return Err(format!("{} answers for {} texts", fresh.len(), lookup.missing.len()));
        }
        for (key, value) in lookup.missing_keys.into_iter().zip(fresh) {
            self.entries.insert(key, value);
        }
        Ok(lookup.keys.iter().map(|key| self.entries[key]).collect())
    }

    /// Keeps only the entries of `keys` (the texts a job still has), so a persisted cache does
    /// not grow from run to run.
    pub fn retain(&mut self, keys: &HashSet<TextKey>) {
        self.entries.retain(|key, _| keys.contains(key));
    }

    /// `magic`, then per entry (sorted by key) the key and what `write` appends, which must be
    /// the same number of bytes for every entry.
    pub fn encode(&self, magic: &[u8; 8], entry_bytes: usize, write: impl Fn(&V, &mut Vec<u8>)) -> Vec<u8> {
        let mut keys: Vec<&TextKey> = self.entries.keys().collect();
        keys.sort();
        let mut bytes = Vec::with_capacity(magic.len() + keys.len() * (32 + entry_bytes));
        bytes.extend_from_slice(magic);
        for key in keys {
            bytes.extend_from_slice(key);
            let before = bytes.len();
            write(&self.entries[key], &mut bytes);
            debug_assert_eq!(bytes.len() - before, entry_bytes, "a cache entry has a fixed size");
        }
        bytes
    }

    /// Reads what [`TextCache::encode`] wrote; `read` gets each entry's `entry_bytes` after its key.
    pub fn decode(
        bytes: &[u8],
        magic: &[u8; 8],
        entry_bytes: usize,
        read: impl Fn(&[u8]) -> V,
    ) -> Result<TextCache<V>, String> {
        let Some(body) = bytes.strip_prefix(magic.as_slice()) else {
            return Err("not a cache of this kind (bad header)".to_string());
        };
        let stride = 32 + entry_bytes;
        if !body.len().is_multiple_of(stride) {
            return Err(format!("truncated cache ({} bytes)", bytes.len()));
        }
        let mut entries = HashMap::with_capacity(body.len() / stride);
        for entry in body.chunks_exact(stride) {
            let mut key = [0u8; 32];
            key.copy_from_slice(&entry[..32]);
            entries.insert(key, read(&entry[32..]));
        }
        Ok(TextCache { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_asks_each_missing_text_once_and_completes_in_order() {
        let mut cache: TextCache<u16> = TextCache::default();
        cache.insert(text_key("m", "seen"), 7);
        let lookup = cache.lookup("m", &["a", "seen", "b", "a"]);
        assert_eq!(lookup.missing, ["a", "b"]);
        assert_eq!(lookup.missing_positions, [0, 2]);
        assert_eq!(lookup.cached(), 2);
        assert_eq!(cache.complete(lookup, vec![1, 2]).unwrap(), [1, 7, 2, 1]);
        let lookup = cache.lookup("m", &["c"]);
        assert!(cache.complete(lookup, vec![]).is_err(), "an answer per missing text");
        assert_ne!(text_key("m", "a"), text_key("n", "a"));
    }

    #[test]
    fn the_file_form_round_trips_and_rejects_other_files() {
        let mut cache: TextCache<u16> = TextCache::default();
        cache.insert(text_key("m", "a"), 258);
        cache.insert(text_key("m", "b"), 3);
        let write = |value: &u16, out: &mut Vec<u8>| out.extend_from_slice(&value.to_le_bytes());
        let read = |bytes: &[u8]| u16::from_le_bytes([bytes[0], bytes[1]]);
        let encoded = cache.encode(b"TESTC001", 2, write);
        assert_eq!(encoded.len(), 8 + 2 * 34);
        assert_eq!(TextCache::decode(&encoded, b"TESTC001", 2, read).unwrap(), cache);
        assert!(TextCache::decode(&encoded, b"OTHER001", 2, read).is_err());
        assert!(TextCache::decode(&encoded[..encoded.len() - 1], b"TESTC001", 2, read).is_err());
        let mut retained = cache.clone();
        retained.retain(&[text_key("m", "b")].into_iter().collect());
        assert_eq!((retained.len(), retained.get(&text_key("m", "b"))), (1, Some(&3)));
    }
}
