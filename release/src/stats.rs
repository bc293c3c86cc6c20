//! Statistics of a release: a mergeable partial per shard ([`ShardStats`], stored beside the
//! shard) and the merged, reader-facing numbers ([`ReleaseStats`]) that the manifest and the
//! dataset card show. Every number has an exact definition below, so that a recomputation from
//! the shards (pyarrow, plain Python) matches it digit for digit.
//!
//! # Definitions
//!
//! One row of a shard is one conversation. Names in `code` are release columns (DESIGN §7);
//! `conversation[].x` is field `x` of an element of the `conversation` list (a turn).
//!
//! - `conversations`: rows.
//! - `turns`: Σ `turn` over rows. A null `turn` is an error (the pipeline never writes one).
//! - `user_turns` / `assistant_turns`: elements of `conversation` whose `role` is `"user"` /
//!   `"assistant"`; elements with another role, a null role, or that are themselves null are
//!   `other_role_turns`. A null `conversation` list has no elements.
//! - Length of a turn: characters, that is Unicode code points of `content` (Python
//!   `len(content)`, pyarrow `utf8_length`); a null `content` has length 0. Lengths are not
//!   tokens: the WildChat paper reports tokens, this release reports characters.
//! - `user_prompt_chars` over user turns and `assistant_response_chars` over assistant turns,
//!   from n (turns), s1 = Σ len and s2 = Σ len², all exact integers:
//!   - `mean = round2(f64(s1) / f64(n))`;
//!   - `sd` is the POPULATION standard deviation:
//!     `sd = round2(sqrt(f64(n·s2 − s1²) / f64(n²)))`, with `n·s2 − s1²` and `n²` computed
//!     exactly as integers and converted to the nearest f64 once each. In Python:
//!     `round(math.sqrt(float(n*s2 - s1*s1) / float(n*n)), 2)`, which agrees with
//!     `round(statistics.pstdev(lengths), 2)` except when floating-point noise meets a
//!     rounding tie;
//!   - both are 0 when n = 0.
//! - `round2(x)`: x rounded to 2 decimals, ties broken to even on the exact binary value of x;
//!   the result is the f64 nearest to that decimal. This is Python's `round(x, 2)` and Rust's
//!   `format!("{x:.2}")` parsed back.
//! - `percent(part, whole) = round2(f64(100·part) / f64(whole))`, 0 when whole = 0; in
//!   Python `round(100 * part / whole, 2)`.
//! - `mean_turns_per_conversation = round2(f64(turns) / f64(conversations))`, 0 without rows.
//! - `users`: distinct values of the first 16 code points (hex digits) of the conversation
//!   column `hashed_ip`, nulls left out; `conversations_without_ip` counts the null ones.
//!   Distinct users across shards are the union of the shards' sets.
//! - `languages`, `countries`, `models`: conversations per value of the conversation columns
//!   `language`, `country`, `model`; null is counted as `"Unknown"`. Each table is sorted by
//!   count descending, then by name ascending (code-point order, as Python sorts `str`), and
//!   `percent = percent(count, conversations)`.
//! - `model_families`: the `models` table grouped by [`model_family`] (`GPT-4` when the
//!   lowercased model starts with `gpt-4`, `GPT-3.5` when it starts with `gpt-3.5`, else
//!   `Other`), sorted and with percentages as above.
//! - `toxicity`: conversations whose `toxic` is true; user (assistant) turns whose
//!   `conversation[].toxic` is true; a null flag counts as not toxic. Percentages are of
//!   `conversations`, `user_turns` and `assistant_turns`.
//! - `redaction`: conversations whose `redacted` is true; turns of any role whose
//!   `conversation[].redacted` is true. Percentages are of `conversations` and of all turn
//!   elements (`user_turns + assistant_turns + other_role_turns`).
//! - `turns_histogram`: conversations per value of `turn`, ascending by `turn`.
//! - `turn_buckets`: the same grouped into [`TURN_BUCKETS`]; a bucket `<1` for `turn` < 1 is
//!   listed only when it is not empty. `percent = percent(conversations, all conversations)`.
//! - `first_timestamp` / `last_timestamp`: the minimum / maximum of the conversation column
//!   `timestamp` (nulls left out) as RFC 3339 UTC truncated to seconds,
//!   `YYYY-MM-DDTHH:MM:SSZ`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::{anyhow, bail, Context};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, LargeStringArray, ListArray, PrimitiveArray, RecordBatch, StringArray,
    StringViewArray, StructArray,
};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::{Deserialize, Serialize};

/// The label a null `language`, `country` or `model` is counted under.
pub const UNKNOWN: &str = "Unknown";

/// Hex digits of `hashed_ip` that identify a user in the statistics.
pub const USER_KEY_CHARS: usize = 16;

/// Buckets of the turns-per-conversation table and chart: (label, lowest, highest), inclusive.
pub const TURN_BUCKETS: [(&str, i64, i64); 9] = [
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4", 4, 4),
    ("5", 5, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51+", 51, i64::MAX),
];

/// The statistics of ONE shard, in a form that merges exactly: counts and integer sums add, and
/// the users are kept as a set so that the union across shards counts each user once. Written
/// as JSON beside the shard ([`crate::manifest::shard_stats_key`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardStats {
    pub conversations: u64,
    /// Σ `turn`.
    pub turns: u64,
    pub user_turns: u64,
    pub assistant_turns: u64,
    pub other_role_turns: u64,
    /// Σ characters of user turns.
    pub user_chars: u64,
    /// Σ characters² of user turns.
    pub user_chars_squared: u64,
    pub assistant_chars: u64,
    pub assistant_chars_squared: u64,
    pub languages: BTreeMap<String, u64>,
    pub countries: BTreeMap<String, u64>,
    pub models: BTreeMap<String, u64>,
    /// Conversations per value of `turn`.
    pub turns_histogram: BTreeMap<i64, u64>,
    pub toxic_conversations: u64,
    pub toxic_user_turns: u64,
    pub toxic_assistant_turns: u64,
    pub redacted_conversations: u64,
    pub redacted_turns: u64,
    pub conversations_without_ip: u64,
    /// Microseconds since the epoch, UTC.
    pub first_timestamp_us: Option<i64>,
    pub last_timestamp_us: Option<i64>,
    /// Distinct `hashed_ip` prefixes ([`USER_KEY_CHARS`]), sorted.
    pub users: Vec<String>,
}

/// Lengths of one kind of turn, in characters (see the module's definitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    pub turns: u64,
    /// Σ characters.
    pub total_chars: u64,
    pub mean: f64,
    /// Population standard deviation.
    pub sd: f64,
}

/// One row of a distribution table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub name: String,
    pub count: u64,
    /// Of all conversations.
    pub percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToxicityStats {
    pub conversations: u64,
    pub conversations_percent: f64,
    pub user_turns: u64,
    pub user_turns_percent: f64,
    pub assistant_turns: u64,
    pub assistant_turns_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RedactionStats {
    pub conversations: u64,
    pub conversations_percent: f64,
    pub turns: u64,
    pub turns_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnCount {
    /// A value of `turn`.
    pub turns: i64,
    pub conversations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnBucket {
    pub label: String,
    pub conversations: u64,
    pub percent: f64,
}

/// The statistics of a release variant, merged from its shards; what the manifest stores and
/// the card shows. Definitions: the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStats {
    /// Shard partials merged.
    pub shards: u64,
    pub conversations: u64,
    pub turns: u64,
    pub user_turns: u64,
    pub assistant_turns: u64,
    pub other_role_turns: u64,
    /// Distinct users (hashed IPs) over the whole variant.
    pub users: u64,
    pub conversations_without_ip: u64,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub mean_turns_per_conversation: f64,
    pub user_prompt_chars: LengthStats,
    pub assistant_response_chars: LengthStats,
    pub toxicity: ToxicityStats,
    pub redaction: RedactionStats,
    pub languages: Vec<Share>,
    pub countries: Vec<Share>,
    pub models: Vec<Share>,
    pub model_families: Vec<Share>,
    pub turns_histogram: Vec<TurnCount>,
    pub turn_buckets: Vec<TurnBucket>,
}

/// `x` rounded to 2 decimals, ties to even on the exact binary value (Python's `round(x, 2)`).
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Rust's fixed-precision formatting is exact, so this is the correctly rounded decimal.
    format!("{x:.2}").parse::<f64>().unwrap_or(x)
}

/// `round2(100·part / whole)`, 0 when `whole` is 0 (Python `round(100 * part / whole, 2)`).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    round2((100u128 * u128::from(part)) as f64 / whole as f64)
}

/// The model family the model split groups by: `GPT-4`, `GPT-3.5` or `Other`.
pub fn model_family(model: &str) -> &'static str {
    let lowercase = model.to_lowercase();
    if lowercase.starts_with("gpt-4") {
        "GPT-4"
    } else if lowercase.starts_with("gpt-3.5") {
        "GPT-3.5"
    } else {
        "Other"
    }
}

/// The columns the statistics read; the others are not decoded.
const COLUMNS: [&str; 9] = [
    "model",
    "timestamp",
    "conversation",
    "turn",
    "language",
    "toxic",
    "redacted",
    "country",
    "hashed_ip",
];

/// Computes the statistics of one release shard (a whole Parquet file).
pub fn shard_stats(parquet: &[u8]) -> anyhow::Result<ShardStats> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(parquet))
        .context("reading the release shard's parquet footer")?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(COLUMNS.len());
    for name in COLUMNS {
        let Some((index, _)) = schema.column_with_name(name) else {
            let present: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
            bail!("release shard has no column `{name}` (it has: {})", present.join(", "));
        };
        roots.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .context("reading the release shard")?;

    let mut accumulator = Accumulator::default();
    for batch in reader {
        let batch = batch.context("decoding a record batch of the release shard")?;
        accumulator.add_batch(&batch)?;
    }
    Ok(accumulator.finish())
}

#[derive(Default)]
struct Accumulator {
    stats: ShardStats,
    users: BTreeSet<String>,
    rows_seen: usize,
}

/// A string column of any of arrow's string layouts.
enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn new(array: &'a dyn Array, name: &str) -> anyhow::Result<Strings<'a>> {
        match array.data_type() {
            DataType::Utf8 => Ok(Strings::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Ok(Strings::Large(array.as_string::<i64>())),
            DataType::Utf8View => Ok(Strings::View(array.as_string_view())),
            other => bail!("column `{name}` has type {other}, expected a string"),
        }
    }

    fn get(&self, index: usize) -> Option<&'a str> {
        match self {
            Strings::Utf8(array) => array.is_valid(index).then(|| array.value(index)),
            Strings::Large(array) => array.is_valid(index).then(|| array.value(index)),
            Strings::View(array) => array.is_valid(index).then(|| array.value(index)),
        }
    }
}

fn booleans<'a>(array: &'a dyn Array, name: &str) -> anyhow::Result<&'a BooleanArray> {
    array
        .as_boolean_opt()
        .ok_or_else(|| anyhow!("column `{name}` has type {}, expected bool", array.data_type()))
}

fn is_true(array: &BooleanArray, index: usize) -> bool {
    array.is_valid(index) && array.value(index)
}

fn batch_column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| anyhow!("release shard has no column `{name}`"))
}

fn turn_field<'a>(turns: &'a StructArray, name: &str) -> anyhow::Result<&'a ArrayRef> {
    turns
        .column_by_name(name)
        .ok_or_else(|| anyhow!("column `conversation` has no field `{name}`"))
}

fn timestamp_string(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// One more conversation under `name`; allocates the key only the first time.
fn count(counts: &mut BTreeMap<String, u64>, name: &str) {
    match counts.get_mut(name) {
        Some(count) => *count += 1,
        None => {
            counts.insert(name.to_string(), 1);
        }
    }
}

fn checked_square_add(sum: &mut u64, length: u64, column: &str) -> anyhow::Result<()> {
    let square = length
        .checked_mul(length)
        .ok_or_else(|| anyhow!("a {column} is too long to square ({length} characters)"))?;
    *sum = sum
        .checked_add(square)
        .ok_or_else(|| anyhow!("the sum of squared {column} lengths overflows 64 bits"))?;
    Ok(())
}

impl Accumulator {
    fn add_batch(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let models = Strings::new(batch_column(batch, "model")?.as_ref(), "model")?;
        let languages = Strings::new(batch_column(batch, "language")?.as_ref(), "language")?;
        let countries = Strings::new(batch_column(batch, "country")?.as_ref(), "country")?;
        let hashed_ips = Strings::new(batch_column(batch, "hashed_ip")?.as_ref(), "hashed_ip")?;
        let toxic = booleans(batch_column(batch, "toxic")?.as_ref(), "toxic")?;
        let redacted = booleans(batch_column(batch, "redacted")?.as_ref(), "redacted")?;
        let turn_column = batch_column(batch, "turn")?;
        let turn: &Int64Array = turn_column
            .as_primitive_opt()
            .ok_or_else(|| anyhow!("column `turn` has type {}, expected int64", turn_column.data_type()))?;
        let timestamp_column = batch_column(batch, "timestamp")?;
        let timestamps: &PrimitiveArray<TimestampMicrosecondType> = match timestamp_column.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => timestamp_column.as_primitive(),
            other => bail!("column `timestamp` has type {other}, expected timestamp[us]"),
        };
        let conversation_column = batch_column(batch, "conversation")?;
        let conversation: &ListArray = conversation_column.as_list_opt().ok_or_else(|| {
            anyhow!(
                "column `conversation` has type {}, expected a list of structs",
                conversation_column.data_type()
            )
        })?;
        let turns: &StructArray = conversation.values().as_struct_opt().ok_or_else(|| {
            anyhow!(
                "column `conversation` has items of type {}, expected a struct",
                conversation.values().data_type()
            )
        })?;
        let contents = Strings::new(turn_field(turns, "content")?.as_ref(), "conversation.content")?;
        let roles = Strings::new(turn_field(turns, "role")?.as_ref(), "conversation.role")?;
        let turn_toxic = booleans(turn_field(turns, "toxic")?.as_ref(), "conversation.toxic")?;
        let turn_redacted = booleans(turn_field(turns, "redacted")?.as_ref(), "conversation.redacted")?;

        let stats = &mut self.stats;
        let offsets = conversation.value_offsets();
        for row in 0..batch.num_rows() {
            stats.conversations += 1;
            count(&mut stats.models, models.get(row).unwrap_or(UNKNOWN));
            count(&mut stats.languages, languages.get(row).unwrap_or(UNKNOWN));
            count(&mut stats.countries, countries.get(row).unwrap_or(UNKNOWN));

            if turn.is_null(row) {
                bail!("row {} of the release shard has a null `turn`", self.rows_seen + row);
            }
            let turn_count = turn.value(row);
            *stats.turns_histogram.entry(turn_count).or_insert(0) += 1;
            stats.turns = stats.turns.checked_add_signed(turn_count).ok_or_else(|| {
                anyhow!(
                    "row {} of the release shard has `turn` {turn_count}",
                    self.rows_seen + row
                )
            })?;

            if is_true(toxic, row) {
                stats.toxic_conversations += 1;
            }
            if is_true(redacted, row) {
                stats.redacted_conversations += 1;
            }
            match hashed_ips.get(row) {
                Some(hashed_ip) => {
                    let key: String = hashed_ip.chars().take(USER_KEY_CHARS).collect();
                    self.users.insert(key);
                }
                None => stats.conversations_without_ip += 1,
            }
            if timestamps.is_valid(row) {
                let micros = timestamps.value(row);
                stats.first_timestamp_us = Some(stats.first_timestamp_us.map_or(micros, |first| first.min(micros)));
                stats.last_timestamp_us = Some(stats.last_timestamp_us.map_or(micros, |last| last.max(micros)));
            }

            if conversation.is_null(row) {
                continue;
            }
            let start = usize::try_from(offsets[row]).context("negative list offset in `conversation`")?;
            let end = usize::try_from(offsets[row + 1]).context("negative list offset in `conversation`")?;
            for element in start..end {
                if turns.is_null(element) {
                    stats.other_role_turns += 1;
                    continue;
                }
                if is_true(turn_redacted, element) {
                    stats.redacted_turns += 1;
                }
                let length = contents.get(element).map_or(0, |content| content.chars().count()) as u64;
                match roles.get(element) {
                    Some("user") => {
                        stats.user_turns += 1;
                        stats.user_chars += length;
                        checked_square_add(&mut stats.user_chars_squared, length, "user turn")?;
                        if is_true(turn_toxic, element) {
                            stats.toxic_user_turns += 1;
                        }
                    }
                    Some("assistant") => {
                        stats.assistant_turns += 1;
                        stats.assistant_chars += length;
                        checked_square_add(&mut stats.assistant_chars_squared, length, "assistant turn")?;
                        if is_true(turn_toxic, element) {
                            stats.toxic_assistant_turns += 1;
                        }
                    }
                    _ => stats.other_role_turns += 1,
                }
            }
        }
        self.rows_seen += batch.num_rows();
        Ok(())
    }

    fn finish(self) -> ShardStats {
        let mut stats = self.stats;
        stats.users = self.users.into_iter().collect();
        stats
    }
}

/// Mean and population sd from exact sums (the module's definitions).
fn length_stats(turns: u64, sum: u64, sum_of_squares: u128) -> LengthStats {
    if turns == 0 {
        return LengthStats::default();
    }
    let n = u128::from(turns);
    let s1 = u128::from(sum);
    let variance = match (n.checked_mul(sum_of_squares), s1.checked_mul(s1), n.checked_mul(n)) {
        (Some(n_s2), Some(s1_squared), Some(n_squared)) => n_s2.saturating_sub(s1_squared) as f64 / n_squared as f64,
        // Beyond 2^64 characters the exact form overflows; the floating-point form is close.
        _ => {
            let mean = s1 as f64 / n as f64;
            (sum_of_squares as f64 / n as f64 - mean * mean).max(0.0)
        }
    };
    LengthStats {
        turns,
        total_chars: sum,
        mean: round2(sum as f64 / turns as f64),
        sd: round2(variance.sqrt()),
    }
}

/// Count descending, then name ascending.
fn shares(counts: &BTreeMap<String, u64>, total: u64) -> Vec<Share> {
    let mut table: Vec<Share> = counts
        .iter()
        .map(|(name, count)| Share {
            name: name.clone(),
            count: *count,
            percent: percent(*count, total),
        })
        .collect();
    table.sort_by(|left, right| right.count.cmp(&left.count).then_with(|| left.name.cmp(&right.name)));
    table
}

fn add_counts(total: &mut BTreeMap<String, u64>, part: &BTreeMap<String, u64>) {
    for (name, count) in part {
        *total.entry(name.clone()).or_insert(0) += count;
    }
}

/// Merges shard partials into the statistics of their variant. Merging is exact: the result
/// does not depend on how the rows were split into shards, nor on the order of `parts`.
pub fn merge(parts: &[ShardStats]) -> ReleaseStats {
    let mut total = ShardStats::default();
    let mut user_chars_squared: u128 = 0;
    let mut assistant_chars_squared: u128 = 0;
    let mut users: HashSet<&str> = HashSet::new();
    for part in parts {
        total.conversations += part.conversations;
        total.turns += part.turns;
        total.user_turns += part.user_turns;
        total.assistant_turns += part.assistant_turns;
        total.other_role_turns += part.other_role_turns;
        total.user_chars += part.user_chars;
        user_chars_squared += u128::from(part.user_chars_squared);
        total.assistant_chars += part.assistant_chars;
        assistant_chars_squared += u128::from(part.assistant_chars_squared);
        add_counts(&mut total.languages, &part.languages);
        add_counts(&mut total.countries, &part.countries);
        add_counts(&mut total.models, &part.models);
        for (turns, conversations) in &part.turns_histogram {
            *total.turns_histogram.entry(*turns).or_insert(0) += conversations;
        }
        total.toxic_conversations += part.toxic_conversations;
        total.toxic_user_turns += part.toxic_user_turns;
        total.toxic_assistant_turns += part.toxic_assistant_turns;
        total.redacted_conversations += part.redacted_conversations;
        total.redacted_turns += part.redacted_turns;
        total.conversations_without_ip += part.conversations_without_ip;
        total.first_timestamp_us = match (total.first_timestamp_us, part.first_timestamp_us) {
            (Some(left), Some(right)) => Some(left.min(right)),
            (left, right) => left.or(right),
        };
        total.last_timestamp_us = match (total.last_timestamp_us, part.last_timestamp_us) {
            (Some(left), Some(right)) => Some(left.max(right)),
            (left, right) => left.or(right),
        };
        users.extend(part.users.iter().map(String::as_str));
    }

    let conversations = total.conversations;
    let all_turns = total.user_turns + total.assistant_turns + total.other_role_turns;
    let mut families: BTreeMap<String, u64> = BTreeMap::new();
    for (model, count) in &total.models {
        *families.entry(model_family(model).to_string()).or_insert(0) += count;
    }
    let mut turn_buckets = Vec::with_capacity(TURN_BUCKETS.len() + 1);
    let below_one: u64 = total.turns_histogram.range(..1).map(|(_, count)| count).sum();
    if below_one > 0 {
        turn_buckets.push(TurnBucket {
            label: "<1".to_string(),
            conversations: below_one,
            percent: percent(below_one, conversations),
        });
    }
    for (label, lowest, highest) in TURN_BUCKETS {
        let in_bucket: u64 = total
            .turns_histogram
            .range(lowest..=highest)
            .map(|(_, count)| count)
            .sum();
        turn_buckets.push(TurnBucket {
            label: label.to_string(),
            conversations: in_bucket,
            percent: percent(in_bucket, conversations),
        });
    }

    ReleaseStats {
        shards: parts.len() as u64,
        conversations,
        turns: total.turns,
        user_turns: total.user_turns,
        assistant_turns: total.assistant_turns,
        other_role_turns: total.other_role_turns,
        users: users.len() as u64,
        conversations_without_ip: total.conversations_without_ip,
        first_timestamp: total.first_timestamp_us.and_then(timestamp_string),
        last_timestamp: total.last_timestamp_us.and_then(timestamp_string),
        mean_turns_per_conversation: if conversations == 0 {
            0.0
        } else {
            round2(total.turns as f64 / conversations as f64)
        },
        user_prompt_chars: length_stats(total.user_turns, total.user_chars, user_chars_squared),
        assistant_response_chars: length_stats(total.assistant_turns, total.assistant_chars, assistant_chars_squared),
        toxicity: ToxicityStats {
            conversations: total.toxic_conversations,
            conversations_percent: percent(total.toxic_conversations, conversations),
            user_turns: total.toxic_user_turns,
            user_turns_percent: percent(total.toxic_user_turns, total.user_turns),
            assistant_turns: total.toxic_assistant_turns,
            assistant_turns_percent: percent(total.toxic_assistant_turns, total.assistant_turns),
        },
        redaction: RedactionStats {
            conversations: total.redacted_conversations,
            conversations_percent: percent(total.redacted_conversations, conversations),
            turns: total.redacted_turns,
            turns_percent: percent(total.redacted_turns, all_turns),
        },
        languages: shares(&total.languages, conversations),
        countries: shares(&total.countries, conversations),
        models: shares(&total.models, conversations),
        model_families: shares(&families, conversations),
        turns_histogram: total
            .turns_histogram
            .iter()
            .map(|(turns, conversations)| TurnCount {
                turns: *turns,
                conversations: *conversations,
            })
            .collect(),
        turn_buckets,
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
pub(crate) mod tests;
