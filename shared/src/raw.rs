//! Raw request-log rows: parse and validate one logged request (DESIGN §5) into the compact
//! record the rest of the pipeline needs, or a quarantine reason. Pure functions, no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical_json::{strip_lone_surrogates, write_python_json_sorted};
use crate::pyrepr::parse_python_literal;

/// Why a row was rejected. The names are stable: they appear in manifests and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineReason {
    /// The line is not UTF-8.
    InvalidUtf8,
    /// The line (or the `text` string) is not a JSON object.
    InvalidJson,
    /// A required field is missing or has the wrong type.
    InvalidRow,
    /// `date` is not a timestamp we understand.
    BadTimestamp,
    /// `headers` is neither a JSON object nor a Python dict literal.
    BadHeaders,
    /// No `x-forwarded-for` header. (A first entry that is empty or not an address is kept,
    /// as the reference kept it: hashed as logged, with unknown country and state.)
    MissingClientIp,
    /// Roles do not alternate user/assistant starting and ending with user.
    NonAlternatingRoles,
    /// A message's content is not a string.
    NonTextContent,
    /// The line is longer than the configured limit.
    LineTooLong,
    /// The object could not be read to its end (truncated or corrupt compression).
    TruncatedObject,
}

impl QuarantineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::InvalidUtf8 => "invalid_utf8",
            QuarantineReason::InvalidJson => "invalid_json",
            QuarantineReason::InvalidRow => "invalid_row",
            QuarantineReason::BadTimestamp => "bad_timestamp",
            QuarantineReason::BadHeaders => "bad_headers",
            QuarantineReason::MissingClientIp => "missing_client_ip",
            QuarantineReason::NonAlternatingRoles => "non_alternating_roles",
            QuarantineReason::NonTextContent => "non_text_content",
            QuarantineReason::LineTooLong => "line_too_long",
            QuarantineReason::TruncatedObject => "truncated_object",
        }
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A rejected row: the reason and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: QuarantineReason,
    pub detail: String,
}

fn reject<T>(reason: QuarantineReason, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        reason,
        detail: detail.into(),
    })
}

/// What linking, enrichment and the release need from one raw row. The full history is not
/// kept: a row contributes only its new user message and the reply to its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRow {
    pub id: i64,
    pub timestamp_us: i64,
    pub model: String,
    /// hex sha256 of user-agent + accept-language. Never leaves intermediate storage.
    pub fingerprint: String,
    /// The client IP. Never leaves intermediate storage.
    pub ip: String,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    /// hex sha256 of canonical_json(messages + [reply]).
    pub current_hash: String,
    /// hex sha256 of canonical_json(messages[..-1]); None for a first turn.
    pub prev_hash: Option<String>,
    pub user_content: String,
    pub assistant_content: String,
}

/// A parsed row plus what the map job needs to route it.
#[derive(Debug, Clone)]
pub struct ParsedRow {
    pub row: LinkRow,
    /// Stable 64-bit hash of (fingerprint, model, first message): the partitioning key.
    pub partition_key: u64,
    /// Lone UTF-16 surrogate escapes dropped from the line (as the reference did).
    pub lone_surrogates_dropped: usize,
}

impl ParsedRow {
    pub fn partition(&self, partitions: u32) -> u32 {
        (self.partition_key % u64::from(partitions.max(1))) as u32
    }
}

/// Parses one raw line (without its trailing newline).
pub fn parse_raw_line(line: &[u8]) -> Result<ParsedRow, Rejection> {
    let Ok(text) = std::str::from_utf8(line) else {
        return reject(QuarantineReason::InvalidUtf8, "line is not valid utf-8");
    };
    let (cleaned, mut lone_surrogates_dropped) = strip_lone_surrogates(text);
    let value: Value = match serde_json::from_str(&cleaned) {
        Ok(value) => value,
        Err(error) => return reject(QuarantineReason::InvalidJson, format!("invalid json: {error}")),
    };
    let Value::Object(object) = value else {
        return reject(QuarantineReason::InvalidJson, "line is not a json object");
    };
    let id = parse_id(object.get("id"))?;
    let timestamp_us = match object.get("date") {
        Some(date) => parse_timestamp(date)?,
        None => return reject(QuarantineReason::InvalidRow, "missing field date"),
    };
    let owned_text;
    let text_object: &Map<String, Value> = match object.get("text") {
        Some(Value::Object(text_object)) => text_object,
        Some(Value::String(embedded)) => {
            let (embedded_clean, dropped) = strip_lone_surrogates(embedded);
            lone_surrogates_dropped += dropped;
            owned_text = match serde_json::from_str::<Value>(&embedded_clean) {
                Ok(Value::Object(text_object)) => text_object,
                Ok(_) => return reject(QuarantineReason::InvalidJson, "field text is not a json object"),
                Err(error) => {
                    return reject(
                        QuarantineReason::InvalidJson,
                        format!("field text is not json: {error}"),
                    )
                }
            };
            &owned_text
        }
        Some(_) => return reject(QuarantineReason::InvalidRow, "field text is not an object"),
        None => return reject(QuarantineReason::InvalidRow, "missing field text"),
    };
    let Some(Value::Object(payload)) = text_object.get("payload") else {
        return reject(QuarantineReason::InvalidRow, "missing or non-object field text.payload");
    };
    let Some(Value::Array(messages)) = payload.get("messages") else {
        return reject(
            QuarantineReason::InvalidRow,
            "missing or non-array field text.payload.messages",
        );
    };
    let Some(Value::String(reply)) = text_object.get("partial_words") else {
        return reject(
            QuarantineReason::InvalidRow,
            "missing or non-string field text.partial_words",
        );
    };
    let model = match (text_object.get("model"), payload.get("model")) {
        (Some(Value::String(model)), _) if !model.is_empty() => model.clone(),
        (_, Some(Value::String(model))) if !model.is_empty() => model.clone(),
        _ => return reject(QuarantineReason::InvalidRow, "missing field text.model"),
    };
    check_roles(messages)?;
    let headers = parse_headers(text_object.get("headers"))?;
    let ip = client_ip(&headers)?;
    let user_agent = header_value(&headers, "user-agent");
    let accept_language = header_value(&headers, "accept-language");

    let Some(Value::String(user_content)) = messages.last().and_then(|message| message.get("content")) else {
        return reject(QuarantineReason::NonTextContent, "last message content is not a string");
    };
    let hashes = history_hashes(messages, reply);
    let fingerprint = fingerprint(user_agent.as_deref(), accept_language.as_deref());
    let partition_key = partition_key(&fingerprint, &model, &hashes.first_message_json);

    Ok(ParsedRow {
        row: LinkRow {
            id,
            timestamp_us,
            model,
            fingerprint,
            ip,
            user_agent,
            accept_language,
            current_hash: hashes.current,
            prev_hash: hashes.previous,
            user_content: user_content.clone(),
            assistant_content: reply.clone(),
        },
        partition_key,
        lone_surrogates_dropped,
    })
}

fn parse_id(value: Option<&Value>) -> Result<i64, Rejection> {
    match value {
        Some(Value::Number(number)) => match number.as_i64() {
            Some(id) => Ok(id),
            None => reject(
                QuarantineReason::InvalidRow,
                format!("field id {number} is not a 64-bit integer"),
            ),
        },
        Some(Value::String(text)) => match text.trim().parse::<i64>() {
            Ok(id) => Ok(id),
            Err(_) => reject(
                QuarantineReason::InvalidRow,
                format!("field id {text:?} is not an integer"),
            ),
        },
        Some(_) => reject(QuarantineReason::InvalidRow, "field id is not an integer"),
        None => reject(QuarantineReason::InvalidRow, "missing field id"),
    }
}

/// Accepts RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (naive = UTC) with an optional offset, and
/// epoch seconds as a number.
pub fn parse_timestamp(value: &Value) -> Result<i64, Rejection> {
    use chrono::{DateTime, NaiveDateTime};
    match value {
        Value::String(text) => {
            let trimmed = text.trim();
            if let Ok(parsed) = DateTime::parse_from_rfc3339(trimmed) {
                return Ok(parsed.timestamp_micros());
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
                if let Ok(parsed) = DateTime::parse_from_str(trimmed, format) {
                    return Ok(parsed.timestamp_micros());
                }
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(parsed) = NaiveDateTime::parse_from_str(trimmed, format) {
                    return Ok(parsed.and_utc().timestamp_micros());
                }
            }
            reject(QuarantineReason::BadTimestamp, format!("unrecognised date {trimmed:?}"))
        }
        Value::Number(number) => match number.as_f64() {
            Some(seconds) if seconds.is_finite() && seconds.abs() < 1e11 => Ok((seconds * 1e6).round() as i64),
            _ => reject(QuarantineReason::BadTimestamp, format!("date {number} is out of range")),
        },
        _ => reject(QuarantineReason::BadTimestamp, "date is neither a string nor a number"),
    }
}

fn check_roles(messages: &[Value]) -> Result<(), Rejection> {
    if messages.is_empty() {
        return reject(QuarantineReason::NonAlternatingRoles, "messages is empty");
    }
    if messages.len().is_multiple_of(2) {
        return reject(
            QuarantineReason::NonAlternatingRoles,
            "messages must end with a user message",
        );
    }
    for (index, message) in messages.iter().enumerate() {
        let expected = if index % 2 == 0 { "user" } else { "assistant" };
        let Some(Value::Object(fields)) = Some(message) else {
            return reject(
                QuarantineReason::InvalidRow,
                format!("message {index} is not an object"),
            );
        };
        match fields.get("role") {
            Some(Value::String(role)) if role == expected => {}
            Some(Value::String(role)) => {
                return reject(
                    QuarantineReason::NonAlternatingRoles,
                    format!("message {index} has role {role:?}, expected {expected:?}"),
                )
            }
            _ => {
                return reject(
                    QuarantineReason::InvalidRow,
                    format!("message {index} has no string role"),
                )
            }
        }
        match fields.get("content") {
            Some(Value::String(_)) => {}
            _ => {
                return reject(
                    QuarantineReason::NonTextContent,
                    format!("message {index} content is not a string"),
                )
            }
        }
    }
    Ok(())
}

/// Headers with lowercased names; values that are not strings are ignored.
type Headers = Vec<(String, String)>;

fn parse_headers(value: Option<&Value>) -> Result<Headers, Rejection> {
    let parsed;
    let object = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(object)) => object,
        Some(Value::String(repr)) => {
            parsed = match parse_python_literal(repr) {
                Ok(parsed) => parsed,
                Err(error) => return reject(QuarantineReason::BadHeaders, format!("headers repr: {error}")),
            };
            match &parsed {
                Value::Object(object) => object,
                _ => return reject(QuarantineReason::BadHeaders, "headers repr is not a dict"),
            }
        }
        Some(_) => {
            return reject(
                QuarantineReason::BadHeaders,
                "headers is neither an object nor a string",
            )
        }
    };
    Ok(object
        .iter()
        .filter_map(|(name, value)| match value {
            Value::String(text) => Some((name.to_ascii_lowercase(), text.clone())),
            _ => None,
        })
        .collect())
}

fn header_value(headers: &Headers, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(header_name, _)| header_name == name)
        .map(|(_, value)| value.clone())
}

/// The client IP as the reference took it: the first entry of `x-forwarded-for`, as logged
/// (surrounding spaces trimmed, never parsed and re-printed), so `hashed_ip` is
/// `sha256(salt + that text)` exactly and a non-canonical spelling hashes as the reference
/// hashed it. An entry that is empty or not an address is kept: the turn gets its hash and
/// unknown country and state.
fn client_ip(headers: &Headers) -> Result<String, Rejection> {
    let Some(forwarded) = header_value(headers, "x-forwarded-for") else {
        return reject(QuarantineReason::MissingClientIp, "no x-forwarded-for header");
    };
    Ok(forwarded.split(',').next().unwrap_or("").trim().to_string())
}

/// `sha256(user-agent + accept-language)` with a missing header as the empty string.
pub fn fingerprint(user_agent: Option<&str>, accept_language: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(user_agent.unwrap_or("").as_bytes());
    hasher.update(accept_language.unwrap_or("").as_bytes());
    hex::encode(hasher.finalize())
}

struct HistoryHashes {
    current: String,
    previous: Option<String>,
    first_message_json: Vec<u8>,
}

/// Hashes `messages + [reply]` and `messages[..-1]` in canonical form, serialising each
/// message once. `messages` is non-empty (checked by `check_roles`).
fn history_hashes(messages: &[Value], reply: &str) -> HistoryHashes {
    debug_assert!(!messages.is_empty());
    let mut buffer = Vec::with_capacity(256);
    let mut ends = Vec::with_capacity(messages.len());
    for message in messages {
        write_python_json_sorted(message, &mut buffer);
        ends.push(buffer.len());
    }
    let mut reply_json = Vec::with_capacity(reply.len() + 40);
    let reply_value = serde_json::json!({"content": reply, "role": "assistant"});
    write_python_json_sorted(&reply_value, &mut reply_json);

    // Both lists share the prefix "[m0, m1, ..., m(n-2)": hash it once and fork the state.
    let mut prefix = Sha256::new();
    prefix.update(b"[");
    let mut start = 0;
    for (index, &end) in ends.iter().take(messages.len() - 1).enumerate() {
        if index > 0 {
            prefix.update(b", ");
        }
        prefix.update(&buffer[start..end]);
        start = end;
    }
    let previous = (messages.len() > 1).then(|| {
        let mut previous_hasher = prefix.clone();
        previous_hasher.update(b"]");
        hex::encode(previous_hasher.finalize())
    });
    let mut current_hasher = prefix;
    if messages.len() > 1 {
        current_hasher.update(b", ");
    }
    current_hasher.update(&buffer[start..]);
    current_hasher.update(b", ");
    current_hasher.update(&reply_json);
    current_hasher.update(b"]");
    let current = hex::encode(current_hasher.finalize());
    let first_end = ends.first().copied().unwrap_or(0);
    HistoryHashes {
        current,
        previous,
        first_message_json: buffer[..first_end].to_vec(),
    }
}

fn partition_key(fingerprint: &str, model: &str, first_message_json: &[u8]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(fingerprint.as_bytes());
    hasher.update([0u8]);
    hasher.update(model.as_bytes());
    hasher.update([0u8]);
    hasher.update(first_message_json);
    let digest = hasher.finalize();
    let mut first_bytes = [0u8; 8];
    first_bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first_bytes)
}

/// The canonical JSON of a message list, exposed for tests and tools.
pub fn canonical_messages_json(messages: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    write_python_json_sorted(&Value::Array(messages.to_vec()), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_json(headers: Value, messages: Value) -> String {
        serde_json::json!({
            "id": 7,
            "date": "2023-04-09 00:02:53.250000",
            "text": {
                "payload": {"model": "gpt-3.5-turbo", "messages": messages},
                "partial_words": "Hello there!",
                "model": "gpt-3.5-turbo-0301",
                "headers": headers,
            }
        })
        .to_string()
    }

    fn sha_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn parses_a_row_with_repr_headers_and_hashes_the_history_canonically() {
        let headers = Value::String(
            "{'user-agent': \"Mozilla/5.0 (it's)\", 'Accept-Language': 'en-US', 'x-forwarded-for': '203.0.113.9, 10.0.0.1'}"
                .to_string(),
        );
        let messages = serde_json::json!([
            {"role": "user", "content": "hi 😀"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}
        ]);
        let parsed = parse_raw_line(row_json(headers, messages).as_bytes()).unwrap();
        let row = &parsed.row;
        assert_eq!(row.id, 7);
        assert_eq!(row.ip, "203.0.113.9");
        assert_eq!(row.model, "gpt-3.5-turbo-0301");
        assert_eq!(row.user_content, "again");
        assert_eq!(row.assistant_content, "Hello there!");
        assert_eq!(row.timestamp_us, 1_680_998_573_250_000);
        assert_eq!(row.fingerprint, sha_hex(b"Mozilla/5.0 (it's)en-US"));
        let full = r#"[{"content": "hi \ud83d\ude00", "role": "user"}, {"content": "hello", "role": "assistant"}, {"content": "again", "role": "user"}, {"content": "Hello there!", "role": "assistant"}]"#;
        let prev = r#"[{"content": "hi \ud83d\ude00", "role": "user"}, {"content": "hello", "role": "assistant"}]"#;
        assert_eq!(row.current_hash, sha_hex(full.as_bytes()));
        assert_eq!(row.prev_hash.as_deref(), Some(sha_hex(prev.as_bytes()).as_str()));
    }

    /// The reference hashed `headers['x-forwarded-for'].split(',')[0]` as logged: no parsing,
    /// no canonical re-printing, and a first entry that is not an address still makes a row.
    #[test]
    fn the_client_ip_is_the_first_forwarded_entry_as_logged() {
        let user_only = serde_json::json!([{"role": "user", "content": "x"}]);
        for (forwarded, expected) in [
            ("2001:DB8:0:0::1, 10.0.0.1", "2001:DB8:0:0::1"),
            ("::ffff:81.2.69.142", "::ffff:81.2.69.142"),
            (" 198.51.100.1 ,10.0.0.1", "198.51.100.1"),
            ("nonsense, 10.0.0.1", "nonsense"),
            ("", ""),
        ] {
            let line = row_json(serde_json::json!({"x-forwarded-for": forwarded}), user_only.clone());
            let parsed = parse_raw_line(line.as_bytes()).expect("the row is kept");
            assert_eq!(parsed.row.ip, expected, "x-forwarded-for {forwarded:?}");
        }
    }

    #[test]
    fn rejects_with_named_reasons() {
        let good_headers = serde_json::json!({"x-forwarded-for": "198.51.100.1"});
        let user_only = serde_json::json!([{"role": "user", "content": "x"}]);
        let cases = [
            (b"not json".to_vec(), QuarantineReason::InvalidJson),
            (b"[1, 2]".to_vec(), QuarantineReason::InvalidJson),
            (vec![b'{', 0xff, b'}'], QuarantineReason::InvalidUtf8),
            (
                row_json(Value::String("{'user-agent': __import__('os').system('x')}".into()), user_only.clone())
                    .into_bytes(),
                QuarantineReason::BadHeaders,
            ),
            (
                row_json(serde_json::json!({"user-agent": "x"}), user_only.clone()).into_bytes(),
                QuarantineReason::MissingClientIp,
            ),
            (
                row_json(
                    good_headers.clone(),
                    serde_json::json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}]),
                )
                .into_bytes(),
                QuarantineReason::NonAlternatingRoles,
            ),
            (
                row_json(good_headers.clone(), serde_json::json!([{"role": "user", "content": [1]}])).into_bytes(),
                QuarantineReason::NonTextContent,
            ),
            (br#"{"id": 1, "date": "yesterday", "text": {}}"#.to_vec(), QuarantineReason::BadTimestamp),
            (br#"{"id": 1, "date": "2023-04-09 00:00:00"}"#.to_vec(), QuarantineReason::InvalidRow),
        ];
        for (line, expected) in cases {
            let rejection = parse_raw_line(&line).unwrap_err();
            assert_eq!(rejection.reason, expected, "{}", String::from_utf8_lossy(&line));
            assert!(!rejection.detail.is_empty());
        }
    }

    #[test]
    fn lone_surrogates_are_dropped_and_counted_not_fatal() {
        let line = r#"{"id": 3, "date": 1681000000, "text": {"payload": {"messages": [{"role": "user", "content": "a\ud800b"}]}, "partial_words": "ok", "model": "gpt-4-0314", "headers": {"x-forwarded-for": "2001:db8::1"}}}"#;
        let parsed = parse_raw_line(line.as_bytes()).unwrap();
        assert_eq!(parsed.row.user_content, "ab");
        assert_eq!(parsed.lone_surrogates_dropped, 1);
        assert_eq!(parsed.row.prev_hash, None);
        let full = r#"[{"content": "ab", "role": "user"}, {"content": "ok", "role": "assistant"}]"#;
        assert_eq!(parsed.row.current_hash, sha_hex(full.as_bytes()));
        assert_eq!(parsed.row.ip, "2001:db8::1");
    }

    #[test]
    fn timestamps_in_every_accepted_form_agree() {
        let forms = [
            "2023-04-09 00:02:53.5",
            "2023-04-09T00:02:53.500000Z",
            "2023-04-09 00:02:53.500000+00:00",
            "2023-04-09T02:02:53.5+02:00",
        ];
        for form in forms {
            assert_eq!(
                parse_timestamp(&Value::String(form.into())).unwrap(),
                1_680_998_573_500_000,
                "{form}"
            );
        }
    }
}
