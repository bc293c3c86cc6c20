//! Statistics computed from small shards built here with arrow column by column (so a test can
//! hold values the record types cannot, such as a null role), in the release schema.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{new_null_array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use super::*;
use crate::record::release_schema;

#[derive(Debug, Clone)]
pub(crate) struct TestTurn {
    pub role: Option<&'static str>,
    pub content: Option<String>,
    pub toxic: Option<bool>,
    pub redacted: Option<bool>,
}

pub(crate) fn user(content: &str) -> TestTurn {
    TestTurn {
        role: Some("user"),
        content: Some(content.to_string()),
        toxic: Some(false),
        redacted: Some(false),
    }
}

pub(crate) fn assistant(content: &str) -> TestTurn {
    TestTurn {
        role: Some("assistant"),
        ..user(content)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TestConversation {
    pub model: Option<String>,
    pub timestamp_us: Option<i64>,
    pub turns: Vec<TestTurn>,
    pub turn: Option<i64>,
    pub language: Option<String>,
    pub toxic: Option<bool>,
    pub redacted: Option<bool>,
    pub country: Option<String>,
    pub hashed_ip: Option<String>,
}

/// A conversation of `exchanges` user/assistant pairs with plain contents.
pub(crate) fn conversation(exchanges: usize, hashed_ip: &str, country: &str, language: &str) -> TestConversation {
    let mut turns = Vec::new();
    for index in 0..exchanges {
        turns.push(user(&format!("question {index}")));
        turns.push(assistant(&format!("answer number {index}")));
    }
    TestConversation {
        model: Some("gpt-3.5-turbo-0613".to_string()),
        timestamp_us: Some(1_700_000_000_000_000),
        turns,
        turn: Some(exchanges as i64),
        language: Some(language.to_string()),
        toxic: Some(false),
        redacted: Some(false),
        country: Some(country.to_string()),
        hashed_ip: Some(hashed_ip.to_string()),
    }
}

/// A 64-hex hashed IP whose 16-digit prefix is `prefix` repeated.
pub(crate) fn hashed_ip(prefix: char, suffix: char) -> String {
    let mut value: String = std::iter::repeat_n(prefix, 16).collect();
    value.extend(std::iter::repeat_n(suffix, 48));
    value
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    let mut builder = BooleanBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn list_item(schema: &Schema, name: &str) -> DataType {
    match schema.field_with_name(name).map(|field| field.data_type().clone()) {
        Ok(DataType::List(item)) => item.data_type().clone(),
        other => panic!("{name} is not a list in the release schema: {other:?}"),
    }
}

fn list(item_type: DataType, lengths: &[usize], values: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", item_type, true)),
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        values,
        None,
    ))
}

/// A release shard in the full release schema: every column, turns with their content, role
/// and flags, the annotations the statistics do not read left null.
pub(crate) fn write_shard(conversations: &[TestConversation]) -> Vec<u8> {
    let schema = release_schema();
    let turns: Vec<&TestTurn> = conversations
        .iter()
        .flat_map(|conversation| &conversation.turns)
        .collect();
    let lengths: Vec<usize> = conversations
        .iter()
        .map(|conversation| conversation.turns.len())
        .collect();
    let turn_type = list_item(&schema, "conversation");
    let DataType::Struct(turn_fields) = turn_type.clone() else {
        panic!("conversation items are not structs");
    };
    let turn_columns: Vec<ArrayRef> = turn_fields
        .iter()
        .map(|field| match field.name().as_str() {
            "content" => strings(turns.iter().map(|turn| turn.content.as_deref())),
            "role" => strings(turns.iter().map(|turn| turn.role)),
            "toxic" => bools(turns.iter().map(|turn| turn.toxic)),
            "redacted" => bools(turns.iter().map(|turn| turn.redacted)),
            "turn_identifier" => {
                let mut builder = Int64Builder::new();
                for index in 0..turns.len() {
                    builder.append_value(index as i64 / 2);
                }
                Arc::new(builder.finish())
            }
            _ => new_null_array(field.data_type(), turns.len()),
        })
        .collect();
    let turn_struct = StructArray::try_new(turn_fields, turn_columns, None).expect("turn struct");

    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "conversation_hash" => strings(conversations.iter().map(|_| Some("0123456789abcdef0123456789abcdef"))),
            "model" => strings(conversations.iter().map(|conversation| conversation.model.as_deref())),
            "timestamp" => {
                let mut builder = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                for conversation in conversations {
                    builder.append_option(conversation.timestamp_us);
                }
                Arc::new(builder.finish())
            }
            "conversation" => list(turn_type.clone(), &lengths, Arc::new(turn_struct.clone())),
            "turn" => {
                let mut builder = Int64Builder::new();
                for conversation in conversations {
                    builder.append_option(conversation.turn);
                }
                Arc::new(builder.finish())
            }
            "language" => strings(
                conversations
                    .iter()
                    .map(|conversation| conversation.language.as_deref()),
            ),
            "openai_moderation" | "detoxify_moderation" => {
                let item_type = list_item(&schema, field.name());
                let items = new_null_array(&item_type, turns.len());
                list(item_type, &lengths, items)
            }
            "toxic" => bools(conversations.iter().map(|conversation| conversation.toxic)),
            "redacted" => bools(conversations.iter().map(|conversation| conversation.redacted)),
            "country" => strings(conversations.iter().map(|conversation| conversation.country.as_deref())),
            "hashed_ip" => strings(
                conversations
                    .iter()
                    .map(|conversation| conversation.hashed_ip.as_deref()),
            ),
            _ => new_null_array(field.data_type(), conversations.len()),
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("record batch");
    write_batch(&batch)
}

fn write_batch(batch: &RecordBatch) -> Vec<u8> {
    let mut output = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut output, batch.schema(), None).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
    output
}

fn sample_shard() -> Vec<TestConversation> {
    let mut first = conversation(1, &hashed_ip('a', '0'), "France", "French");
    first.turns = vec![user("héllo"), assistant("日本語です")];
    let mut second = conversation(2, &hashed_ip('b', '0'), "United States", "English");
    second.turns = vec![user("a"), assistant("bb"), user("ccc"), assistant("dddd")];
    second.turns[2].toxic = Some(true);
    second.turns[2].redacted = Some(true);
    second.turns[3].toxic = Some(true);
    second.toxic = Some(true);
    second.redacted = Some(true);
    second.model = Some("gpt-4-0314".to_string());
    second.timestamp_us = Some(1_600_000_000_500_000);
    // Same user as the first conversation (same 16-digit prefix, different tail), no country.
    let mut third = conversation(1, &hashed_ip('a', '1'), "ignored", "English");
    third.country = None;
    third.language = None;
    third.turns = vec![user("🙂🙂"), assistant("")];
    third.timestamp_us = Some(1_800_000_000_000_000);
    vec![first, second, third]
}

#[test]
fn shard_stats_counts_one_shard() {
    let stats = shard_stats(&write_shard(&sample_shard())).expect("stats");
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(name, count)| (name.to_string(), *count)).collect()
    };
    let expected = ShardStats {
        conversations: 3,
        turns: 4,
        user_turns: 4,
        assistant_turns: 4,
        other_role_turns: 0,
        // héllo 5, a 1, ccc 3, 🙂🙂 2: code points, not bytes.
        user_chars: 11,
        user_chars_squared: 25 + 1 + 9 + 4,
        // 日本語です 5, bb 2, dddd 4, "" 0.
        assistant_chars: 11,
        assistant_chars_squared: 25 + 4 + 16,
        languages: counts(&[("English", 1), ("French", 1), ("Unknown", 1)]),
        countries: counts(&[("France", 1), ("United States", 1), ("Unknown", 1)]),
        models: counts(&[("gpt-3.5-turbo-0613", 2), ("gpt-4-0314", 1)]),
        turns_histogram: [(1, 2), (2, 1)].into_iter().collect(),
        toxic_conversations: 1,
        toxic_user_turns: 1,
        toxic_assistant_turns: 1,
        redacted_conversations: 1,
        redacted_turns: 1,
        conversations_without_ip: 0,
        first_timestamp_us: Some(1_600_000_000_500_000),
        last_timestamp_us: Some(1_800_000_000_000_000),
        users: vec!["a".repeat(16), "b".repeat(16)],
    };
    assert_eq!(stats, expected);
}

#[test]
fn merged_numbers_follow_the_documented_definitions() {
    let release = merge(&[shard_stats(&write_shard(&sample_shard())).expect("stats")]);
    assert_eq!(release.users, 2);
    assert_eq!(release.mean_turns_per_conversation, 1.33);
    // User lengths 5, 1, 3, 2: mean 2.75, population sd sqrt(2.1875) = 1.479...
    assert_eq!(
        release.user_prompt_chars,
        LengthStats {
            turns: 4,
            total_chars: 11,
            mean: 2.75,
            sd: 1.48
        }
    );
    // Assistant lengths 5, 2, 4, 0: mean 2.75, population sd sqrt(3.6875) = 1.920...
    assert_eq!(release.assistant_response_chars.sd, 1.92);
    assert_eq!(
        release.toxicity,
        ToxicityStats {
            conversations: 1,
            conversations_percent: 33.33,
            user_turns: 1,
            user_turns_percent: 25.0,
            assistant_turns: 1,
            assistant_turns_percent: 25.0,
        }
    );
    assert_eq!(release.redaction.turns_percent, 12.5);
    assert_eq!(release.redaction.conversations_percent, 33.33);
    let families: Vec<(&str, u64, f64)> = release
        .model_families
        .iter()
        .map(|share| (share.name.as_str(), share.count, share.percent))
        .collect();
    assert_eq!(families, vec![("GPT-3.5", 2, 66.67), ("GPT-4", 1, 33.33)]);
    // Ties by name: English, French, Unknown all have one conversation.
    let languages: Vec<&str> = release.languages.iter().map(|share| share.name.as_str()).collect();
    assert_eq!(languages, vec!["English", "French", "Unknown"]);
    assert_eq!(release.first_timestamp.as_deref(), Some("2020-09-13T12:26:40Z"));
    assert_eq!(release.last_timestamp.as_deref(), Some("2027-01-15T08:00:00Z"));
    let buckets: Vec<(&str, u64)> = release
        .turn_buckets
        .iter()
        .map(|bucket| (bucket.label.as_str(), bucket.conversations))
        .collect();
    assert_eq!(buckets[..3], [("1", 2), ("2", 1), ("3", 0)]);
    assert_eq!(buckets.len(), TURN_BUCKETS.len());
}

#[test]
fn merging_shards_unions_users_and_adds_histograms() {
    let left = vec![
        conversation(1, &hashed_ip('a', '0'), "France", "French"),
        conversation(3, &hashed_ip('b', '0'), "Germany", "German"),
    ];
    let right = vec![
        // The same user as in the left shard, seen again.
        conversation(3, &hashed_ip('a', '9'), "France", "French"),
        conversation(60, &hashed_ip('c', '0'), "Japan", "Japanese"),
        TestConversation {
            hashed_ip: None,
            ..conversation(1, "", "Japan", "Japanese")
        },
    ];
    let left_stats = shard_stats(&write_shard(&left)).expect("left");
    let right_stats = shard_stats(&write_shard(&right)).expect("right");
    assert_eq!(left_stats.users.len() + right_stats.users.len(), 4);

    let merged = merge(&[left_stats.clone(), right_stats.clone()]);
    assert_eq!(merged.shards, 2);
    assert_eq!(merged.conversations, 5);
    assert_eq!(merged.users, 3);
    assert_eq!(merged.conversations_without_ip, 1);
    assert_eq!(merged.turns, 68);
    let histogram: Vec<(i64, u64)> = merged
        .turns_histogram
        .iter()
        .map(|count| (count.turns, count.conversations))
        .collect();
    assert_eq!(histogram, vec![(1, 2), (3, 2), (60, 1)]);
    let bucket = |label: &str| {
        merged
            .turn_buckets
            .iter()
            .find(|bucket| bucket.label == label)
            .map(|bucket| bucket.conversations)
    };
    assert_eq!(bucket("51+"), Some(1));
    assert_eq!(bucket("3"), Some(2));
    assert_eq!(merged.countries[0].name, "France");
    assert_eq!(merged.countries[0].count, 2);

    // Merging does not depend on the order of the parts nor on how rows fell into shards.
    assert_eq!(merge(&[right_stats, left_stats]), merged);
    let whole: Vec<TestConversation> = left.into_iter().chain(right).collect();
    let single = merge(&[shard_stats(&write_shard(&whole)).expect("whole")]);
    assert_eq!(ReleaseStats { shards: 2, ..single }, merged);
}

#[test]
fn a_shard_of_many_record_batches_is_read_whole() {
    let conversations: Vec<TestConversation> = (0..2500)
        .map(|index| {
            let ip = format!("{index:016x}{}", "0".repeat(48));
            conversation(1 + index % 4, &ip, "Brazil", "Portuguese")
        })
        .collect();
    let stats = shard_stats(&write_shard(&conversations)).expect("stats");
    assert_eq!(stats.conversations, 2500);
    assert_eq!(stats.users.len(), 2500);
    let exchanges: u64 = (0..2500u64).map(|index| 1 + index % 4).sum();
    assert_eq!(stats.turns, exchanges);
    assert_eq!(stats.user_turns, exchanges);
    assert_eq!(stats.assistant_turns, exchanges);
}

#[test]
fn null_fields_are_counted_as_documented() {
    let mut odd = conversation(1, &hashed_ip('d', '0'), "Chile", "Spanish");
    odd.model = None;
    odd.timestamp_us = None;
    odd.toxic = None;
    odd.redacted = None;
    odd.turns = vec![
        TestTurn {
            content: None,
            toxic: None,
            redacted: None,
            ..user("")
        },
        TestTurn {
            role: Some("system"),
            redacted: Some(true),
            ..user("instructions")
        },
        TestTurn {
            role: None,
            ..user("x")
        },
    ];
    let stats = shard_stats(&write_shard(&[odd])).expect("stats");
    assert_eq!(stats.models.get(UNKNOWN), Some(&1));
    assert_eq!((stats.user_turns, stats.other_role_turns), (1, 2));
    assert_eq!((stats.user_chars, stats.redacted_turns), (0, 1));
    assert_eq!((stats.toxic_conversations, stats.redacted_conversations), (0, 0));
    assert_eq!((stats.first_timestamp_us, stats.last_timestamp_us), (None, None));
    let release = merge(&[stats]);
    assert_eq!(release.redaction.turns_percent, 33.33);
    assert_eq!(release.model_families[0].name, "Other");
    assert_eq!(release.first_timestamp, None);
}

#[test]
fn a_null_turn_count_is_an_error_naming_the_row() {
    let mut rows = vec![conversation(1, &hashed_ip('a', '0'), "Peru", "Spanish"); 3];
    rows[2].turn = None;
    let error = shard_stats(&write_shard(&rows)).expect_err("null turn");
    assert!(error.to_string().contains("row 2"), "{error}");
    assert!(error.to_string().contains("`turn`"), "{error}");
}

#[test]
fn a_shard_in_another_schema_gets_an_error_naming_the_column() {
    let shard = write_shard(&sample_shard());
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(shard))
        .expect("builder")
        .build()
        .expect("reader");
    let batch = reader.into_iter().next().expect("a batch").expect("batch");

    let without_country = batch
        .project(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13])
        .expect("project");
    let error = shard_stats(&write_batch(&without_country)).expect_err("no country");
    assert!(error.to_string().contains("no column `country`"), "{error}");

    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    let turn_index = batch.schema().index_of("turn").expect("turn");
    fields[turn_index] = Field::new("turn", DataType::Utf8, true);
    columns[turn_index] = strings(["1", "2", "1"].into_iter().map(Some));
    let text_turns = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    let error = shard_stats(&write_batch(&text_turns)).expect_err("turn as text");
    assert!(error.to_string().contains("column `turn` has type Utf8"), "{error}");

    let error = shard_stats(b"not parquet").expect_err("garbage");
    assert!(error.to_string().contains("parquet"), "{error}");
}

#[test]
fn rounding_matches_python_round() {
    // Ties on exactly representable values go to even, as Python's round(x, 2).
    assert_eq!(round2(0.125), 0.12);
    assert_eq!(round2(0.375), 0.38);
    assert_eq!(round2(1.005), 1.0); // 1.005 is 1.00499999... in binary
    assert_eq!(percent(1, 8), 12.5);
    assert_eq!(percent(1, 3), 33.33);
    assert_eq!(percent(2, 3), 66.67);
    assert_eq!(percent(1, 800), 0.12);
    assert_eq!(percent(5, 0), 0.0);
    assert_eq!(length_stats(0, 0, 0), LengthStats::default());
}

#[test]
fn statistics_survive_the_manifest_json() {
    let stats = shard_stats(&write_shard(&sample_shard())).expect("stats");
    let value = serde_json::to_value(&stats).expect("to value");
    assert_eq!(serde_json::from_value::<ShardStats>(value).expect("from value"), stats);
    let release = merge(&[stats]);
    let value = serde_json::to_value(&release).expect("to value");
    assert!(value.get("users").is_some_and(|users| users.is_u64()));
    assert_eq!(
        serde_json::from_value::<ReleaseStats>(value).expect("from value"),
        release
    );
    // Older partials without newer fields still read.
    let sparse: ShardStats = serde_json::from_str(r#"{"conversations": 2}"#).expect("sparse");
    assert_eq!(sparse.conversations, 2);
}

#[test]
fn model_families_group_by_prefix() {
    assert_eq!(model_family("gpt-4-1106-preview"), "GPT-4");
    assert_eq!(model_family("GPT-4o"), "GPT-4");
    assert_eq!(model_family("gpt-3.5-turbo-0301"), "GPT-3.5");
    assert_eq!(model_family("claude-2"), "Other");
}
