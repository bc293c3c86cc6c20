//! The released record and its Parquet form, defined once: the record types the worker fills,
//! the Arrow schema (the WildChat-1M features, names and types exactly, DESIGN §7), the writer
//! settings every shard is written with (by the worker's finalise jobs and by `release amend`),
//! and a reader of turn flags. Stage outputs that are not computed stay null.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{new_null_array, Array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

/// The 18 moderation category keys of the WildChat-1M card, in its order (DESIGN §7), and a
/// turn's `openai_moderation` element, by their position: defined once in `shared`.
pub use shared::moderation::{ModerationAnswer as TurnModeration, CATEGORIES as MODERATION_CATEGORIES};

/// Detoxify's score keys in the card's order (DESIGN §7). A toxicity model's scores are stored
/// in this order (the worker checks at compile time that the toxicity crate's list equals it).
pub const DETOXIFY_KEYS: [&str; 7] = [
    "identity_attack",
    "insult",
    "obscene",
    "severe_toxicity",
    "sexual_explicit",
    "threat",
    "toxicity",
];

/// Conversations per record batch and row group of a shard.
pub const ROWS_PER_GROUP: usize = 8192;
/// The zstd level of shard pages.
const SHARD_ZSTD_LEVEL: i32 = 3;

/// The Parquet writer settings of every release shard, so a shard rewritten by `amend` is as
/// valid (and as deterministic) as one the worker wrote.
pub fn shard_writer_properties() -> Result<WriterProperties, parquet::errors::ParquetError> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(SHARD_ZSTD_LEVEL)?))
        .set_max_row_group_size(ROWS_PER_GROUP)
        .build())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    pub accept_language: Option<String>,
    pub user_agent: Option<String>,
}

/// Detoxify scores in [`DETOXIFY_KEYS`] order; None where the model has no such label.
pub type DetoxifyScores = [Option<f64>; 7];

/// The record is also the analyse job's intermediate form (serde), read back by the finalise job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub content: String,
    pub role: Role,
    pub turn_identifier: i64,
    /// Assistant turns: when the reply finished.
    pub timestamp_us: Option<i64>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub hashed_ip: Option<String>,
    pub header: Option<Header>,
    pub language: Option<String>,
    pub redacted: Option<bool>,
    pub toxic: Option<bool>,
    pub detoxify: Option<DetoxifyScores>,
    /// Absent (not even `null`) in the intermediate form without a moderation source, so runs
    /// without one write what they wrote before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<TurnModeration>,
}

impl Turn {
    /// A turn with every stage annotation unset.
    pub fn new(role: Role, content: String, turn_identifier: i64) -> Turn {
        Turn {
            content,
            role,
            turn_identifier,
            timestamp_us: None,
            country: None,
            state: None,
            hashed_ip: None,
            header: None,
            language: None,
            redacted: None,
            toxic: None,
            detoxify: None,
            moderation: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_hash: String,
    pub model: String,
    pub timestamp_us: i64,
    pub turns: Vec<Turn>,
    /// Number of user/assistant exchanges (rows).
    pub turn: i64,
    pub language: Option<String>,
    pub toxic: Option<bool>,
    pub redacted: Option<bool>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub hashed_ip: Option<String>,
    pub header: Option<Header>,
}

/// Who wrote a turn; released as the strings `user` and `assistant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    /// The released name: `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

fn nullable(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn header_fields() -> Fields {
    Fields::from(vec![
        nullable("accept-language", DataType::Utf8),
        nullable("user-agent", DataType::Utf8),
    ])
}

fn turn_fields() -> Fields {
    Fields::from(vec![
        nullable("content", DataType::Utf8),
        nullable("country", DataType::Utf8),
        nullable("hashed_ip", DataType::Utf8),
        nullable("header", DataType::Struct(header_fields())),
        nullable("language", DataType::Utf8),
        nullable("redacted", DataType::Boolean),
        nullable("role", DataType::Utf8),
        nullable("state", DataType::Utf8),
        nullable("timestamp", timestamp_type()),
        nullable("toxic", DataType::Boolean),
        nullable("turn_identifier", DataType::Int64),
    ])
}

fn moderation_type() -> DataType {
    let categories = MODERATION_CATEGORIES
        .iter()
        .map(|name| nullable(name, DataType::Boolean))
        .collect::<Vec<_>>();
    let scores = MODERATION_CATEGORIES
        .iter()
        .map(|name| nullable(name, DataType::Float64))
        .collect::<Vec<_>>();
    DataType::Struct(Fields::from(vec![
        nullable("categories", DataType::Struct(Fields::from(categories))),
        nullable("category_scores", DataType::Struct(Fields::from(scores))),
        nullable("flagged", DataType::Boolean),
    ]))
}

fn detoxify_fields() -> Fields {
    Fields::from(
        DETOXIFY_KEYS
            .iter()
            .map(|name| nullable(name, DataType::Float64))
            .collect::<Vec<_>>(),
    )
}

fn list_of(data_type: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", data_type, true)))
}

/// The release schema: WildChat-1M's features, in its column order.
pub fn release_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        nullable("conversation_hash", DataType::Utf8),
        nullable("model", DataType::Utf8),
        nullable("timestamp", timestamp_type()),
        nullable("conversation", list_of(DataType::Struct(turn_fields()))),
        nullable("turn", DataType::Int64),
        nullable("language", DataType::Utf8),
        nullable("openai_moderation", list_of(moderation_type())),
        nullable("detoxify_moderation", list_of(DataType::Struct(detoxify_fields()))),
        nullable("toxic", DataType::Boolean),
        nullable("redacted", DataType::Boolean),
        nullable("state", DataType::Utf8),
        nullable("country", DataType::Utf8),
        nullable("hashed_ip", DataType::Utf8),
        nullable("header", DataType::Struct(header_fields())),
    ]))
}

fn header_array<'a>(headers: impl Iterator<Item = Option<&'a Header>>) -> ArrayRef {
    let mut accept_language = StringBuilder::new();
    let mut user_agent = StringBuilder::new();
    let mut validity = Vec::new();
    for header in headers {
        validity.push(header.is_some());
        accept_language.append_option(header.and_then(|header| header.accept_language.as_deref()));
        user_agent.append_option(header.and_then(|header| header.user_agent.as_deref()));
    }
    Arc::new(StructArray::new(
        header_fields(),
        vec![Arc::new(accept_language.finish()), Arc::new(user_agent.finish())],
        Some(NullBuffer::from(validity)),
    ))
}

fn string_array<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn bool_array(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    let mut builder = BooleanBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn timestamp_array(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut builder = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn list_array(item_type: DataType, lengths: impl Iterator<Item = usize>, values: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", item_type, true)),
        OffsetBuffer::from_lengths(lengths),
        values,
        None,
    ))
}

/// Builds one record batch from conversations (owned or borrowed).
pub fn conversations_to_batch<C: std::borrow::Borrow<Conversation>>(
    conversations: &[C],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let borrowed: Vec<&Conversation> = conversations.iter().map(std::borrow::Borrow::borrow).collect();
    let conversations = borrowed.as_slice();
    let turns: Vec<&Turn> = conversations
        .iter()
        .flat_map(|conversation| conversation.turns.iter())
        .collect();
    let turn_lengths = || conversations.iter().map(|conversation| conversation.turns.len());

    let mut turn_identifiers = Int64Builder::new();
    for turn in &turns {
        turn_identifiers.append_value(turn.turn_identifier);
    }
    let turn_struct = StructArray::try_new(
        turn_fields(),
        vec![
            string_array(turns.iter().map(|turn| Some(turn.content.as_str()))),
            string_array(turns.iter().map(|turn| turn.country.as_deref())),
            string_array(turns.iter().map(|turn| turn.hashed_ip.as_deref())),
            header_array(turns.iter().map(|turn| turn.header.as_ref())),
            string_array(turns.iter().map(|turn| turn.language.as_deref())),
            bool_array(turns.iter().map(|turn| turn.redacted)),
            string_array(turns.iter().map(|turn| Some(turn.role.as_str()))),
            string_array(turns.iter().map(|turn| turn.state.as_deref())),
            timestamp_array(turns.iter().map(|turn| turn.timestamp_us)),
            bool_array(turns.iter().map(|turn| turn.toxic)),
            Arc::new(turn_identifiers.finish()),
        ],
        None,
    )?;

    let mut detoxify_columns: Vec<Float64Builder> = (0..DETOXIFY_KEYS.len()).map(|_| Float64Builder::new()).collect();
    let mut detoxify_validity = Vec::with_capacity(turns.len());
    for turn in &turns {
        detoxify_validity.push(turn.detoxify.is_some());
        for (index, column) in detoxify_columns.iter_mut().enumerate() {
            column.append_option(turn.detoxify.and_then(|scores| scores[index]));
        }
    }
    let detoxify_struct = StructArray::try_new(
        detoxify_fields(),
        detoxify_columns
            .into_iter()
            .map(|mut column| Arc::new(column.finish()) as ArrayRef)
            .collect(),
        Some(NullBuffer::from(detoxify_validity)),
    )?;
    let moderation_values = moderation_array(&turns)?;

    let mut turn_counts = Int64Builder::new();
    for conversation in conversations {
        turn_counts.append_value(conversation.turn);
    }
    let columns: Vec<ArrayRef> = vec![
        string_array(
            conversations
                .iter()
                .map(|conversation| Some(conversation.conversation_hash.as_str())),
        ),
        string_array(
            conversations
                .iter()
                .map(|conversation| Some(conversation.model.as_str())),
        ),
        timestamp_array(conversations.iter().map(|conversation| Some(conversation.timestamp_us))),
        list_array(DataType::Struct(turn_fields()), turn_lengths(), Arc::new(turn_struct)),
        Arc::new(turn_counts.finish()),
        string_array(
            conversations
                .iter()
                .map(|conversation| conversation.language.as_deref()),
        ),
        list_array(moderation_type(), turn_lengths(), moderation_values),
        list_array(
            DataType::Struct(detoxify_fields()),
            turn_lengths(),
            Arc::new(detoxify_struct),
        ),
        bool_array(conversations.iter().map(|conversation| conversation.toxic)),
        bool_array(conversations.iter().map(|conversation| conversation.redacted)),
        string_array(conversations.iter().map(|conversation| conversation.state.as_deref())),
        string_array(conversations.iter().map(|conversation| conversation.country.as_deref())),
        string_array(
            conversations
                .iter()
                .map(|conversation| conversation.hashed_ip.as_deref()),
        ),
        header_array(conversations.iter().map(|conversation| conversation.header.as_ref())),
    ];
    debug_assert!(columns.iter().all(|column| column.len() == conversations.len()));
    RecordBatch::try_new(release_schema(), columns)
}

/// The `openai_moderation` elements of `turns`. Without any moderation answer the column is
/// built exactly as before moderation existed (one null element per turn), so such shards keep
/// their bytes.
fn moderation_array(turns: &[&Turn]) -> Result<ArrayRef, arrow_schema::ArrowError> {
    if turns.iter().all(|turn| turn.moderation.is_none()) {
        return Ok(new_null_array(&moderation_type(), turns.len()));
    }
    let DataType::Struct(fields) = moderation_type() else {
        unreachable!("moderation_type is a struct");
    };
    let (DataType::Struct(category_fields), DataType::Struct(score_fields)) =
        (fields[0].data_type().clone(), fields[1].data_type().clone())
    else {
        unreachable!("categories and category_scores are structs");
    };
    let mut categories: Vec<BooleanBuilder> = (0..MODERATION_CATEGORIES.len())
        .map(|_| BooleanBuilder::new())
        .collect();
    let mut scores: Vec<Float64Builder> = (0..MODERATION_CATEGORIES.len())
        .map(|_| Float64Builder::new())
        .collect();
    let mut flagged = BooleanBuilder::new();
    let mut validity = Vec::with_capacity(turns.len());
    for turn in turns {
        let moderation = turn.moderation.as_ref();
        validity.push(moderation.is_some());
        flagged.append_option(moderation.map(|moderation| moderation.flagged));
        for (index, column) in categories.iter_mut().enumerate() {
            column.append_option(moderation.and_then(|moderation| moderation.categories[index]));
        }
        for (index, column) in scores.iter_mut().enumerate() {
            column.append_option(moderation.and_then(|moderation| moderation.category_scores[index]));
        }
    }
    let validity = NullBuffer::from(validity);
    let categories = StructArray::try_new(
        category_fields,
        categories
            .into_iter()
            .map(|mut column| Arc::new(column.finish()) as ArrayRef)
            .collect(),
        Some(validity.clone()),
    )?;
    let scores = StructArray::try_new(
        score_fields,
        scores
            .into_iter()
            .map(|mut column| Arc::new(column.finish()) as ArrayRef)
            .collect(),
        Some(validity.clone()),
    )?;
    Ok(Arc::new(StructArray::try_new(
        fields,
        vec![Arc::new(categories), Arc::new(scores), Arc::new(flagged.finish())],
        Some(validity),
    )?))
}

/// Writes conversations as one zstd Parquet file. Deterministic: the same conversations give
/// the same bytes.
pub fn write_parquet<C: std::borrow::Borrow<Conversation>>(
    conversations: &[C],
) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let mut output = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut output, release_schema(), Some(shard_writer_properties()?))?;
    for chunk in conversations.chunks(ROWS_PER_GROUP) {
        writer.write(&conversations_to_batch(chunk)?)?;
    }
    writer.close()?;
    Ok(output)
}

/// One turn's identity and toxicity flag, as read back from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnFlag {
    pub turn_identifier: i64,
    pub role: String,
    pub toxic: Option<bool>,
    pub redacted: Option<bool>,
    pub content: String,
}

/// Reads every turn's `turn_identifier`, `role`, `toxic`, `redacted` and `content` from a
/// release shard.
pub fn read_turn_flags(shard: bytes::Bytes) -> anyhow::Result<Vec<TurnFlag>> {
    use arrow_array::{BooleanArray, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let reader = ParquetRecordBatchReaderBuilder::try_new(shard)?.build()?;
    let mut flags = Vec::new();
    for batch in reader {
        let batch = batch?;
        let conversation = batch
            .column_by_name("conversation")
            .and_then(|column| column.as_any().downcast_ref::<ListArray>())
            .ok_or_else(|| anyhow::anyhow!("the shard has no conversation list"))?;
        let turns = conversation
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| anyhow::anyhow!("conversation is not a list of structs"))?;
        let column = |name: &str| {
            turns
                .column_by_name(name)
                .ok_or_else(|| anyhow::anyhow!("turns have no {name} field"))
        };
        let identifiers = column("turn_identifier")?.as_any().downcast_ref::<Int64Array>();
        let roles = column("role")?.as_any().downcast_ref::<StringArray>();
        let toxic = column("toxic")?.as_any().downcast_ref::<BooleanArray>();
        let redacted = column("redacted")?.as_any().downcast_ref::<BooleanArray>();
        let contents = column("content")?.as_any().downcast_ref::<StringArray>();
        let (Some(identifiers), Some(roles), Some(toxic), Some(redacted), Some(contents)) =
            (identifiers, roles, toxic, redacted, contents)
        else {
            anyhow::bail!("turn fields have unexpected types");
        };
        for index in 0..turns.len() {
            flags.push(TurnFlag {
                turn_identifier: identifiers.value(index),
                role: roles.value(index).to_string(),
                toxic: toxic.is_valid(index).then(|| toxic.value(index)),
                redacted: redacted.is_valid(index).then(|| redacted.value(index)),
                content: contents.value(index).to_string(),
            });
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn sample(turns: usize) -> Conversation {
        let mut conversation_turns = Vec::new();
        for index in 0..turns {
            conversation_turns.push(Turn {
                header: Some(Header {
                    accept_language: None,
                    user_agent: Some("ua".into()),
                }),
                ..Turn::new(Role::User, format!("question {index}"), index as i64)
            });
            conversation_turns.push(Turn {
                timestamp_us: Some(1_700_000_000_000_000),
                detoxify: Some([None, None, None, None, None, None, Some(0.5)]),
                ..Turn::new(Role::Assistant, format!("answer {index}"), index as i64)
            });
        }
        Conversation {
            conversation_hash: "abc".into(),
            model: "gpt-4-0314".into(),
            timestamp_us: 1_700_000_000_000_000,
            turns: conversation_turns,
            turn: turns as i64,
            language: None,
            toxic: None,
            redacted: None,
            state: None,
            country: None,
            hashed_ip: None,
            header: Some(Header::default()),
        }
    }

    #[test]
    fn parquet_round_trips_with_the_release_schema() {
        let conversations = vec![sample(1), sample(3)];
        let bytes = write_parquet(&conversations).unwrap();
        assert_eq!(
            bytes,
            write_parquet(&conversations).unwrap(),
            "writing is deterministic"
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.schema().as_ref(), release_schema().as_ref());
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|batch| batch.unwrap()).collect();
        assert_eq!(batches.iter().map(|batch| batch.num_rows()).sum::<usize>(), 2);
        let conversation = batches[0].column(3).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(conversation.value_length(1), 6);
    }

    #[test]
    fn turn_flags_read_back() {
        let mut conversation = sample(2);
        conversation.turns[1].toxic = Some(true);
        conversation.turns[2].toxic = Some(false);
        conversation.turns[1].redacted = Some(true);
        let flags = read_turn_flags(bytes::Bytes::from(write_parquet(&[conversation]).unwrap())).unwrap();
        assert_eq!(flags.len(), 4);
        assert_eq!(
            flags[1],
            TurnFlag {
                turn_identifier: 0,
                role: "assistant".into(),
                toxic: Some(true),
                redacted: Some(true),
                content: "answer 0".into(),
            }
        );
        assert_eq!(flags[2].toxic, Some(false));
        assert_eq!(flags[0].toxic, None);
    }

    #[test]
    fn moderation_answers_fill_their_elements_and_a_turn_without_one_stays_null() {
        let mut conversation = sample(2);
        let mut categories = [Some(false); 18];
        categories[13] = Some(true);
        categories[14] = Some(true);
        let mut category_scores = [Some(0.25); 18];
        category_scores[0] = None;
        conversation.turns[0].moderation = Some(TurnModeration {
            flagged: true,
            categories,
            category_scores,
        });
        let bytes = write_parquet(&[conversation]).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        let list = batch
            .column_by_name("openai_moderation")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        let elements = list.value(0);
        let elements = elements.as_any().downcast_ref::<StructArray>().unwrap();
        assert_eq!(elements.len(), 4);
        assert!(elements.is_valid(0));
        assert!(elements.is_null(1), "a turn without an answer is a null element");
        let flagged = elements.column_by_name("flagged").unwrap();
        let flagged = flagged.as_any().downcast_ref::<arrow_array::BooleanArray>().unwrap();
        assert!(flagged.value(0));
        let categories = elements.column_by_name("categories").unwrap();
        let categories = categories.as_any().downcast_ref::<StructArray>().unwrap();
        let minors = categories.column_by_name("sexual/minors").unwrap();
        let minors = minors.as_any().downcast_ref::<arrow_array::BooleanArray>().unwrap();
        assert!(minors.value(0));
        let scores = elements.column_by_name("category_scores").unwrap();
        let scores = scores.as_any().downcast_ref::<StructArray>().unwrap();
        let harassment = scores.column_by_name("harassment").unwrap();
        assert!(harassment.is_null(0), "an unanswered score stays null");
        let hate = scores.column_by_name("hate").unwrap();
        let hate = hate.as_any().downcast_ref::<arrow_array::Float64Array>().unwrap();
        assert_eq!(hate.value(0), 0.25);
    }
}
