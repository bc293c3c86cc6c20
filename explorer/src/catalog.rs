//! The catalog of one variant of a version: a compact entry per conversation (where its row
//! is, its filterable columns, a preview and a digest of the whole row), built by one pass
//! over the shards and cached in the store. Browse filters scan it; compare diffs two of them.

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch, TimestampMicrosecondArray};
use serde::{Deserialize, Serialize};

use release::ops::shard::{bool_column, int64_column, optional_bool, optional_i64, optional_str, string_column, Turns};

/// A dictionary index meaning "null".
pub const NONE: u32 = u32::MAX;
/// A filter value that names nothing in the dictionary: matches no conversation.
pub const UNKNOWN: u32 = u32::MAX - 1;
/// How a null value is named in filters and pages.
pub const NONE_LABEL: &str = "(none)";
/// Characters of the first user turn kept as the preview.
const PREVIEW_CHARS: usize = 160;

/// The distinct values of one column, by first appearance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dict {
    pub names: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Dict {
    fn intern(&mut self, value: Option<&str>) -> u32 {
        let Some(value) = value else { return NONE };
        if let Some(&index) = self.index.get(value) {
            return index;
        }
        let index = u32::try_from(self.names.len()).expect("fewer than 4 billion distinct values");
        self.names.push(value.to_string());
        self.index.insert(value.to_string(), index);
        index
    }

    fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.clone(), index as u32))
            .collect();
    }

    /// The index a filter value selects: [`NONE`] for `(none)`, [`UNKNOWN`] for a value no
    /// conversation has.
    pub fn lookup(&self, value: &str) -> u32 {
        if value == NONE_LABEL {
            return NONE;
        }
        self.index.get(value).copied().unwrap_or(UNKNOWN)
    }

    pub fn name(&self, index: u32) -> &str {
        self.names.get(index as usize).map_or(NONE_LABEL, String::as_str)
    }
}

/// A lower-case 32-hex conversation hash as a number (upper case is another string).
fn hash_number(hash: &str) -> Option<u128> {
    (hash.len() == 32 && hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| u128::from_str_radix(hash, 16).ok())
        .flatten()
}

/// A three-valued column (`toxic`, `redacted`): null, false or true.
pub fn flag(value: Option<bool>) -> u8 {
    match value {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    }
}

/// One conversation (about 60 bytes in memory; the hash and preview are kept beside it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub shard: u32,
    pub row: u32,
    /// Conversation `timestamp` (microseconds since the epoch; `i64::MIN` when null).
    pub timestamp_us: i64,
    /// The `turn` column (-1 when null).
    pub turns: i64,
    pub language: u32,
    pub country: u32,
    pub state: u32,
    pub model: u32,
    pub hashed_ip: u32,
    pub toxic: u8,
    pub redacted: u8,
    /// [`crate::rows::row_digest`] of the whole row.
    pub digest: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dims {
    pub language: Dict,
    pub country: Dict,
    pub state: Dict,
    pub model: Dict,
    pub hashed_ip: Dict,
}

/// A shard of the variant, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    pub key: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub format: String,
    pub version: String,
    pub variant: String,
    /// [`crate::source_digest`] of the shards it was built from.
    pub source: String,
    pub shards: Vec<ShardRef>,
    pub entries: Vec<Entry>,
    pub hashes: Vec<String>,
    pub previews: Vec<String>,
    pub dims: Dims,
    /// Ordinals by conversation hash: 32-hex hashes as numbers (16 bytes a conversation),
    /// anything else by its text.
    #[serde(skip)]
    by_hash: HashMap<u128, u32>,
    #[serde(skip)]
    by_odd_hash: HashMap<String, u32>,
    /// [`Catalog::order`]'s permutations, one per [`Sort`].
    #[serde(skip)]
    orders: [std::sync::OnceLock<Vec<u32>>; 3],
}

/// What the index builder gets for each conversation: its ordinal, its turns' contents and
/// the whole row as JSON.
pub type TextSink<'a> = dyn FnMut(u32, Vec<&str>, &str) -> anyhow::Result<()> + 'a;

impl Catalog {
    pub fn new(version: &str, variant: &str, source: &str, shards: Vec<ShardRef>) -> Catalog {
        Catalog {
            format: crate::CACHE_FORMAT.to_string(),
            version: version.to_string(),
            variant: variant.to_string(),
            source: source.to_string(),
            shards,
            ..Catalog::default()
        }
    }

    /// Adds the rows of one decoded batch of shard `shard` (rows numbered from `first_row`),
    /// handing each conversation's turn texts to `sink`.
    pub fn add_batch(
        &mut self,
        shard: u32,
        first_row: u32,
        batch: &RecordBatch,
        sink: &mut TextSink<'_>,
    ) -> anyhow::Result<()> {
        let hashes = string_column(batch, "conversation_hash")?;
        let models = string_column(batch, "model")?;
        let languages = string_column(batch, "language")?;
        let countries = string_column(batch, "country")?;
        let states = string_column(batch, "state")?;
        let hashed_ips = string_column(batch, "hashed_ip")?;
        let turn_counts = int64_column(batch, "turn")?;
        let toxic = bool_column(batch, "toxic")?;
        let redacted = bool_column(batch, "redacted")?;
        let timestamps = batch
            .column_by_name("timestamp")
            .and_then(|column| column.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .ok_or_else(|| anyhow::anyhow!("the shard has no timestamp column of microseconds"))?;
        let turns = Turns::of(batch)?;
        let (Some(contents), Some(roles)) = (turns.content, turns.role) else {
            anyhow::bail!("turns have no content or role field");
        };
        for row in 0..batch.num_rows() {
            let ordinal = u32::try_from(self.entries.len())?;
            let texts: Vec<&str> = turns
                .range(row)
                .map(|index| optional_str(contents, index).unwrap_or(""))
                .collect();
            let preview = turns
                .range(row)
                .find(|&index| optional_str(roles, index) == Some("user"))
                .and_then(|index| optional_str(contents, index))
                .map(|text| text.chars().take(PREVIEW_CHARS).collect::<String>())
                .unwrap_or_default();
            let row_text = crate::rows::row_json(batch, row).to_string();
            let digest = crate::rows::row_digest(&row_text);
            let entry = Entry {
                shard,
                row: first_row + u32::try_from(row)?,
                timestamp_us: if timestamps.is_valid(row) {
                    timestamps.value(row)
                } else {
                    i64::MIN
                },
                turns: optional_i64(turn_counts, row).unwrap_or(-1),
                language: self.dims.language.intern(optional_str(languages, row)),
                country: self.dims.country.intern(optional_str(countries, row)),
                state: self.dims.state.intern(optional_str(states, row)),
                model: self.dims.model.intern(optional_str(models, row)),
                hashed_ip: self.dims.hashed_ip.intern(optional_str(hashed_ips, row)),
                toxic: flag(optional_bool(toxic, row)),
                redacted: flag(optional_bool(redacted, row)),
                digest,
            };
            let hash = optional_str(hashes, row).unwrap_or("").to_string();
            self.index_hash(&hash, ordinal);
            self.hashes.push(hash);
            self.previews.push(preview);
            self.entries.push(entry);
            sink(ordinal, texts, &row_text)?;
        }
        Ok(())
    }

    /// Rebuilds the lookup tables after deserialising.
    pub fn reindex(&mut self) {
        for dict in [
            &mut self.dims.language,
            &mut self.dims.country,
            &mut self.dims.state,
            &mut self.dims.model,
            &mut self.dims.hashed_ip,
        ] {
            dict.reindex();
        }
        self.by_hash = HashMap::with_capacity(self.hashes.len());
        self.by_odd_hash = HashMap::new();
        for ordinal in 0..self.hashes.len() {
            let hash = std::mem::take(&mut self.hashes[ordinal]);
            self.index_hash(&hash, ordinal as u32);
            self.hashes[ordinal] = hash;
        }
    }

    fn index_hash(&mut self, hash: &str, ordinal: u32) {
        match hash_number(hash) {
            Some(number) => self.by_hash.insert(number, ordinal),
            None => self.by_odd_hash.insert(hash.to_string(), ordinal),
        };
    }

    pub fn ordinal_of(&self, hash: &str) -> Option<u32> {
        match hash_number(hash) {
            Some(number) => self.by_hash.get(&number).copied(),
            None => self.by_odd_hash.get(hash).copied(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Conversations per value of one dimension, most first (ties by name).
    pub fn counts(&self, pick: impl Fn(&Entry) -> u32, dict: &Dict) -> Vec<(String, u64)> {
        tally(self.entries.iter(), pick, dict)
    }

    /// Every ordinal in `sort`'s order, computed once per catalog and order.
    pub fn order(&self, sort: Sort) -> &[u32] {
        self.orders[sort as usize].get_or_init(|| {
            let mut ordinals: Vec<u32> = (0..self.entries.len() as u32).collect();
            sort.apply(self, &mut ordinals);
            ordinals
        })
    }
}

/// Entries per value of one dimension, most first (ties by name).
pub fn tally<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    pick: impl Fn(&Entry) -> u32,
    dict: &Dict,
) -> Vec<(String, u64)> {
    // One slot per dictionary value and one for null.
    let mut counts = vec![0u64; dict.names.len() + 1];
    for entry in entries {
        let index = pick(entry);
        let slot = if index == NONE {
            dict.names.len()
        } else {
            index as usize
        };
        if let Some(count) = counts.get_mut(slot) {
            *count += 1;
        }
    }
    let mut named: Vec<(String, u64)> = counts
        .into_iter()
        .enumerate()
        .filter(|(_, count)| *count > 0)
        .map(|(slot, count)| (dict.name(slot as u32).to_string(), count))
        .collect();
    named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    named
}

/// The browse filters, resolved against a catalog's dictionaries. `None` filters nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub language: Option<u32>,
    pub country: Option<u32>,
    pub state: Option<u32>,
    pub model: Option<u32>,
    pub hashed_ip: Option<u32>,
    pub toxic: Option<u8>,
    pub redacted: Option<u8>,
    pub min_turns: Option<i64>,
    pub max_turns: Option<i64>,
    /// Timestamps in `[from_us, to_us)`.
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
}

impl Filter {
    pub fn matches(&self, entry: &Entry) -> bool {
        self.language.is_none_or(|value| entry.language == value)
            && self.country.is_none_or(|value| entry.country == value)
            && self.state.is_none_or(|value| entry.state == value)
            && self.model.is_none_or(|value| entry.model == value)
            && self.hashed_ip.is_none_or(|value| entry.hashed_ip == value)
            && self.toxic.is_none_or(|value| entry.toxic == value)
            && self.redacted.is_none_or(|value| entry.redacted == value)
            && self.min_turns.is_none_or(|value| entry.turns >= value)
            && self
                .max_turns
                .is_none_or(|value| entry.turns >= 0 && entry.turns <= value)
            && self
                .from_us
                .is_none_or(|value| entry.timestamp_us != i64::MIN && entry.timestamp_us >= value)
            && self
                .to_us
                .is_none_or(|value| entry.timestamp_us != i64::MIN && entry.timestamp_us < value)
    }
}

/// How a result list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Newest = 0,
    Oldest = 1,
    MostTurns = 2,
}

impl Sort {
    pub const ALL: [Sort; 3] = [Sort::Newest, Sort::Oldest, Sort::MostTurns];
}

impl Sort {
    pub fn parse(name: &str) -> Sort {
        match name {
            "oldest" => Sort::Oldest,
            "turns" => Sort::MostTurns,
            _ => Sort::Newest,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::MostTurns => "turns",
        }
    }

    /// Orders ordinals of `catalog` (ties by ordinal, so pages are stable).
    pub fn apply(self, catalog: &Catalog, ordinals: &mut [u32]) {
        let entry = |ordinal: &u32| &catalog.entries[*ordinal as usize];
        match self {
            Sort::Newest => {
                ordinals.sort_unstable_by_key(|ordinal| (std::cmp::Reverse(entry(ordinal).timestamp_us), *ordinal))
            }
            Sort::Oldest => ordinals.sort_unstable_by_key(|ordinal| (entry(ordinal).timestamp_us, *ordinal)),
            Sort::MostTurns => {
                ordinals.sort_unstable_by_key(|ordinal| (std::cmp::Reverse(entry(ordinal).turns), *ordinal))
            }
        }
    }
}
