//! Comparing a shard's arrow schema with the release schema ([`crate::record::release_schema`],
//! the one definition, which the worker writes shards with, DESIGN §7), column by
//! column, in words a release manager can act on.

use arrow_schema::Schema;

use crate::record::release_schema;

/// How `actual` departs from the release schema, column by column; empty when it matches.
/// Schema-level metadata is ignored: only names, types, nullability and nesting count.
pub fn schema_differences(actual: &Schema) -> Vec<String> {
    let expected = release_schema();
    let mut differences = Vec::new();
    for expected_field in expected.fields() {
        match actual.field_with_name(expected_field.name()) {
            Err(_) => differences.push(format!("column {} is missing", expected_field.name())),
            Ok(actual_field) if actual_field != expected_field.as_ref() => differences.push(format!(
                "column {} is {}{} where the release schema has {}{}",
                expected_field.name(),
                actual_field.data_type(),
                if actual_field.is_nullable() { "" } else { " not null" },
                expected_field.data_type(),
                if expected_field.is_nullable() { "" } else { " not null" },
            )),
            Ok(_) => {}
        }
    }
    for actual_field in actual.fields() {
        if expected.field_with_name(actual_field.name()).is_err() {
            differences.push(format!("column {} is not in the release schema", actual_field.name()));
        }
    }
    if differences.is_empty() {
        let actual_names: Vec<&str> = actual.fields().iter().map(|field| field.name().as_str()).collect();
        let expected_names: Vec<&str> = expected.fields().iter().map(|field| field.name().as_str()).collect();
        if actual_names != expected_names {
            differences.push(format!(
                "columns are in the order {actual_names:?}, not the release schema's"
            ));
        }
    }
    differences
}
