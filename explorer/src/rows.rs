//! One release row as JSON, whatever the shard's schema: what the conversation page shows and
//! what the compare page's per-conversation digest is taken over.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Row `row` of `batch` as a JSON object in column order (nulls as `null`).
pub fn row_json(batch: &RecordBatch, row: usize) -> Value {
    let mut object = Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        object.insert(field.name().clone(), value_at(column.as_ref(), row));
    }
    Value::Object(object)
}

/// The first 8 bytes of sha256 over the row's JSON text: equal rows, equal digests.
pub fn row_digest(row_text: &str) -> u64 {
    let digest = Sha256::digest(row_text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The contents of a row's turns (`conversation[].content`, null as "").
pub fn turn_texts(row: &Value) -> Vec<&str> {
    row.get("conversation")
        .and_then(Value::as_array)
        .map(|turns| {
            turns
                .iter()
                .map(|turn| turn.get("content").and_then(Value::as_str).unwrap_or(""))
                .collect()
        })
        .unwrap_or_default()
}

fn value_at(array: &dyn Array, index: usize) -> Value {
    if array.is_null(index) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(index)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(index)),
        DataType::Boolean => Value::from(array.as_boolean().value(index)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(index)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(index)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(index)),
        DataType::Float32 => Value::from(f64::from(array.as_primitive::<Float32Type>().value(index))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(index);
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|time| Value::from(time.format("%Y-%m-%d %H:%M:%S UTC").to_string()))
                .unwrap_or(Value::Null)
        }
        DataType::Struct(_) => {
            let fields = array.as_struct();
            let mut object = Map::new();
            for (name, column) in fields.column_names().into_iter().zip(fields.columns()) {
                object.insert(name.to_string(), value_at(column.as_ref(), index));
            }
            Value::Object(object)
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let values = list.value(index);
            Value::Array((0..values.len()).map(|item| value_at(values.as_ref(), item)).collect())
        }
        other => Value::from(format!("({other} not shown)")),
    }
}
