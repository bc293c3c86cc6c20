//! The card's YAML front matter: one config per variant, the schema's features as Hugging Face
//! dtypes, language codes, size category and licence.

use super::*;

/// The variants to show: the known ones in [`VARIANTS`] order, then any others by name.
pub(super) fn variant_names(input: &CardInput) -> Vec<String> {
    let mut names: Vec<String> = VARIANTS
        .iter()
        .filter(|name| input.manifest.variants.contains_key(**name) || input.statistics.contains_key(**name))
        .map(|name| name.to_string())
        .collect();
    for name in input.manifest.variants.keys().chain(input.statistics.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The config marked `default: true`: `full` when the release has it, else the first.
pub(super) fn default_variant(input: &CardInput) -> Option<String> {
    let names: Vec<&String> = input.manifest.variants.keys().collect();
    if names.iter().any(|name| name.as_str() == VARIANTS[0]) {
        return Some(VARIANTS[0].to_string());
    }
    variant_names(input)
        .into_iter()
        .find(|name| input.manifest.variants.contains_key(name))
}

/// A YAML scalar: plain when that cannot be misread, else a double-quoted string (JSON string
/// syntax is valid YAML).
pub(super) fn yaml_scalar(text: &str) -> String {
    let reserved = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"];
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.' | '/'))
        && text.starts_with(|character: char| character.is_ascii_alphabetic())
        && !reserved.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        yaml_quoted(text)
    }
}

pub(super) fn yaml_quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Hugging Face's size category for a number of rows.
pub fn size_category(rows: u64) -> &'static str {
    const CATEGORIES: [(u64, &str); 10] = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
        (10_000_000_000, "1B<n<10B"),
        (100_000_000_000, "10B<n<100B"),
        (1_000_000_000_000, "100B<n<1T"),
    ];
    CATEGORIES
        .iter()
        .find(|(limit, _)| rows < *limit)
        .map_or("n>1T", |(_, category)| category)
}

/// ISO 639-1 codes of the release's language labels (lingua's English names); labels without
/// a code here are left out of the front matter.
pub(super) fn iso_code(language: &str) -> Option<&'static str> {
    let code = match language {
        "Arabic" => "ar",
        "Bengali" => "bn",
        "Bulgarian" => "bg",
        "Catalan" => "ca",
        "Chinese" => "zh",
        "Croatian" => "hr",
        "Czech" => "cs",
        "Danish" => "da",
        "Dutch" => "nl",
        "English" => "en",
        "Estonian" => "et",
        "Finnish" => "fi",
        "French" => "fr",
        "German" => "de",
        "Greek" => "el",
        "Hebrew" => "he",
        "Hindi" => "hi",
        "Hungarian" => "hu",
        "Indonesian" => "id",
        "Italian" => "it",
        "Japanese" => "ja",
        "Kazakh" => "kk",
        "Korean" => "ko",
        "Latin" => "la",
        "Latvian" => "lv",
        "Lithuanian" => "lt",
        "Malay" => "ms",
        "Persian" => "fa",
        "Polish" => "pl",
        "Portuguese" => "pt",
        "Romanian" => "ro",
        "Russian" => "ru",
        "Serbian" => "sr",
        "Slovak" => "sk",
        "Slovene" => "sl",
        "Spanish" => "es",
        "Swedish" => "sv",
        "Tagalog" => "tl",
        "Thai" => "th",
        "Turkish" => "tr",
        "Ukrainian" => "uk",
        "Urdu" => "ur",
        "Vietnamese" => "vi",
        _ => return None,
    };
    Some(code)
}

/// Hugging Face's `dtype` for an arrow leaf type.
pub(super) fn hf_dtype(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::Utf8View => "string".to_string(),
        DataType::LargeUtf8 => "large_string".to_string(),
        DataType::Boolean => "bool".to_string(),
        DataType::Int8 => "int8".to_string(),
        DataType::Int16 => "int16".to_string(),
        DataType::Int32 => "int32".to_string(),
        DataType::Int64 => "int64".to_string(),
        DataType::UInt8 => "uint8".to_string(),
        DataType::UInt16 => "uint16".to_string(),
        DataType::UInt32 => "uint32".to_string(),
        DataType::UInt64 => "uint64".to_string(),
        DataType::Float16 => "float16".to_string(),
        DataType::Float32 => "float32".to_string(),
        DataType::Float64 => "float64".to_string(),
        DataType::Timestamp(unit, timezone) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match timezone {
                Some(timezone) => format!("timestamp[{unit}, tz={timezone}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

/// The features list as Hugging Face writes it: `dtype` for leaves, `struct:` for structs,
/// `list:` with the item's fields for lists of structs, `sequence:` for lists of leaves.
pub(super) fn write_features(out: &mut String, fields: &Fields, indent: &str) {
    for field in fields {
        let _ = writeln!(out, "{indent}- name: {}", yaml_scalar(field.name()));
        write_feature_type(out, field.data_type(), indent);
    }
}

pub(super) fn write_feature_type(out: &mut String, data_type: &DataType, indent: &str) {
    let nested = format!("{indent}  ");
    match data_type {
        DataType::Struct(fields) => {
            let _ = writeln!(out, "{nested}struct:");
            write_features(out, fields, &nested);
        }
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(fields) => {
                let _ = writeln!(out, "{nested}list:");
                write_features(out, fields, &nested);
            }
            leaf => {
                let _ = writeln!(out, "{nested}sequence: {}", hf_dtype(leaf));
            }
        },
        leaf => {
            let _ = writeln!(out, "{nested}dtype: {}", hf_dtype(leaf));
        }
    }
}

pub(super) fn variant_bytes(input: &CardInput, name: &str) -> u64 {
    input
        .manifest
        .variants
        .get(name)
        .map_or(0, |variant| variant.shards.iter().map(|shard| shard.bytes).sum())
}

pub(super) fn front_matter(input: &CardInput) -> String {
    let mut out = String::from("---\n");
    let _ = writeln!(out, "license: {}", yaml_scalar(input.license));
    let _ = writeln!(out, "pretty_name: {}", yaml_quoted(input.pretty_name));
    out.push_str("task_categories:\n- text-generation\n- question-answering\n");

    let default = default_variant(input);
    let language_source = default
        .as_ref()
        .and_then(|name| input.statistics.get(name))
        .or_else(|| input.statistics.values().next());
    let mut codes: Vec<&str> = Vec::new();
    for share in language_source.map_or(&[][..], |stats| &stats.languages[..]) {
        if let Some(code) = iso_code(&share.name) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    if !codes.is_empty() {
        out.push_str("language:\n");
        for code in codes {
            let _ = writeln!(out, "- {code}");
        }
    }
    let largest = input
        .manifest
        .variants
        .values()
        .map(|variant| variant.rows)
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "size_categories:\n- {}", size_category(largest));

    let names: Vec<String> = variant_names(input)
        .into_iter()
        .filter(|name| input.manifest.variants.contains_key(name))
        .collect();
    if !names.is_empty() {
        out.push_str("configs:\n");
        for name in &names {
            let _ = writeln!(out, "- config_name: {}", yaml_scalar(name));
            out.push_str("  data_files:\n  - split: train\n");
            let _ = writeln!(out, "    path: {}", yaml_quoted(&format!("{name}/*.parquet")));
            if default.as_deref() == Some(name.as_str()) {
                out.push_str("  default: true\n");
            }
        }
        let schema = release_schema();
        out.push_str("dataset_info:\n");
        for name in &names {
            let rows = input.manifest.variants.get(name).map_or(0, |variant| variant.rows);
            let bytes = variant_bytes(input, name);
            let _ = writeln!(out, "- config_name: {}", yaml_scalar(name));
            out.push_str("  features:\n");
            write_features(&mut out, schema.fields(), "  ");
            out.push_str("  splits:\n  - name: train\n");
            let _ = writeln!(out, "    num_bytes: {bytes}\n    num_examples: {rows}");
            let _ = writeln!(out, "  download_size: {bytes}\n  dataset_size: {bytes}");
        }
    }
    out.push_str("---\n");
    out
}
