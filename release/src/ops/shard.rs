//! Reading and writing release shards with arrow: projected reads by column name, typed column
//! access with errors that name the column, and the writer settings the worker uses, so a
//! rewritten shard is as valid a release shard as the worker's own.

use arrow_array::{Array, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use sha2::{Digest, Sha256};

pub use crate::record::ROWS_PER_GROUP;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A shard's arrow schema and row count from its footer, without decoding any data.
pub(crate) fn shard_footer(shard: Bytes) -> anyhow::Result<(SchemaRef, u64)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(shard)?;
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows())?;
    Ok((builder.schema().clone(), rows))
}

/// Decodes a shard; `columns` keeps only those top-level columns (None = all of them).
pub fn read_batches(shard: Bytes, columns: Option<&[&str]>) -> anyhow::Result<Vec<RecordBatch>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(shard)?;
    let builder = match columns {
        None => builder,
        Some(names) => {
            let mut roots = Vec::with_capacity(names.len());
            for name in names {
                let index = builder
                    .schema()
                    .index_of(name)
                    .map_err(|_| anyhow::anyhow!("the shard has no {name} column"))?;
                roots.push(index);
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
    };
    let reader = builder.with_batch_size(ROWS_PER_GROUP).build()?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    Ok(batches)
}

/// Writes batches as one release shard with the shard writer settings the worker uses
/// ([`crate::record::shard_writer_properties`]) and the given (release) schema.
pub(crate) fn write_shard(schema: SchemaRef, batches: &[RecordBatch]) -> anyhow::Result<Vec<u8>> {
    let mut output = Vec::new();
    let mut writer = ArrowWriter::try_new(
        &mut output,
        schema.clone(),
        Some(crate::record::shard_writer_properties()?),
    )?;
    for batch in batches {
        // The batch's own schema may carry reader metadata; the release schema is what is written.
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(output)
}

fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str, type_name: &str) -> anyhow::Result<&'a T> {
    batch
        .column_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("the shard has no {name} column"))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| anyhow::anyhow!("column {name} is not {type_name}"))
}

pub fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a StringArray> {
    column(batch, name, "a string")
}

pub fn bool_column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a BooleanArray> {
    column(batch, name, "a bool")
}

pub fn int64_column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a Int64Array> {
    column(batch, name, "an int64")
}

pub fn optional_str(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

pub fn optional_bool(array: &BooleanArray, row: usize) -> Option<bool> {
    array.is_valid(row).then(|| array.value(row))
}

pub fn optional_i64(array: &Int64Array, row: usize) -> Option<i64> {
    array.is_valid(row).then(|| array.value(row))
}

/// The `conversation` column: each row's turns as a range into the flattened turn fields.
pub struct Turns<'a> {
    list: &'a ListArray,
    pub content: Option<&'a StringArray>,
    pub role: Option<&'a StringArray>,
    pub turn_identifier: Option<&'a Int64Array>,
}

impl<'a> Turns<'a> {
    /// Reads the turn fields that are present (a projection may have left some out).
    pub fn of(batch: &'a RecordBatch) -> anyhow::Result<Turns<'a>> {
        let list: &ListArray = column(batch, "conversation", "a list")?;
        let fields = list
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| anyhow::anyhow!("conversation is not a list of structs"))?;
        Ok(Turns {
            list,
            content: turn_field(fields, "content", "a string")?,
            role: turn_field(fields, "role", "a string")?,
            turn_identifier: turn_field(fields, "turn_identifier", "an int64")?,
        })
    }

    /// The flattened indices of a row's turns (empty for a null conversation).
    pub fn range(&self, row: usize) -> std::ops::Range<usize> {
        if self.list.is_null(row) {
            return 0..0;
        }
        let offsets = self.list.value_offsets();
        // Offsets of a valid list are non-negative and non-decreasing.
        let start = usize::try_from(offsets[row]).unwrap_or(0);
        let end = usize::try_from(offsets[row + 1]).unwrap_or(start);
        start..end
    }
}

fn turn_field<'a, T: Array + 'static>(
    fields: &'a StructArray,
    name: &str,
    type_name: &str,
) -> anyhow::Result<Option<&'a T>> {
    match fields.column_by_name(name) {
        None => Ok(None),
        Some(array) => array
            .as_any()
            .downcast_ref::<T>()
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("turn field {name} is not {type_name}")),
    }
}
