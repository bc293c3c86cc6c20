//! Test-only reference implementation of the pipeline's linking rules, written straight from
//! the rule text and sharing no code with the generator, so the generator's truth can be
//! checked against an independent derivation from the raw lines alone.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One valid row as the linker sees it.
pub struct LinkRow {
    pub id: u64,
    pub micros: i64,
    pub fingerprint: (String, String),
    pub ip: String,
    pub model: String,
    pub current_hash: [u8; 32],
    pub previous_hash: Option<[u8; 32]>,
    pub user_content: String,
    pub reply: String,
}

pub enum ParsedLine {
    Row(Box<LinkRow>),
    Quarantined(&'static str),
}

/// Parses a Python dict literal of str keys and str values (what `repr()` of such a dict
/// prints); anything else is None.
pub fn parse_python_str_dict(text: &str) -> Option<Vec<(String, String)>> {
    let characters: Vec<char> = text.chars().collect();
    let mut position = 0;
    let skip_spaces = |position: &mut usize| {
        while *position < characters.len() && characters[*position] == ' ' {
            *position += 1;
        }
    };
    let parse_string = |position: &mut usize| -> Option<String> {
        let quote = *characters.get(*position)?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        *position += 1;
        let mut value = String::new();
        loop {
            let character = *characters.get(*position)?;
            *position += 1;
            if character == quote {
                return Some(value);
            }
            if character != '\\' {
                value.push(character);
                continue;
            }
            let escaped = *characters.get(*position)?;
            *position += 1;
            let hex_digits = match escaped {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => 0,
            };
            if hex_digits > 0 {
                let digits: String = characters.get(*position..*position + hex_digits)?.iter().collect();
                *position += hex_digits;
                value.push(char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?);
                continue;
            }
            value.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' | '\'' | '"' => escaped,
                _ => return None,
            });
        }
    };
    skip_spaces(&mut position);
    if characters.get(position) != Some(&'{') {
        return None;
    }
    position += 1;
    skip_spaces(&mut position);
    let mut entries = Vec::new();
    if characters.get(position) == Some(&'}') {
        position += 1;
    } else {
        loop {
            skip_spaces(&mut position);
            let key = parse_string(&mut position)?;
            skip_spaces(&mut position);
            if characters.get(position) != Some(&':') {
                return None;
            }
            position += 1;
            skip_spaces(&mut position);
            let value = parse_string(&mut position)?;
            entries.push((key, value));
            skip_spaces(&mut position);
            match characters.get(position) {
                Some(',') => position += 1,
                Some('}') => {
                    position += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    skip_spaces(&mut position);
    (position == characters.len()).then_some(entries)
}

fn parse_date(text: &str) -> Option<i64> {
    let naive = text.trim_end_matches('Z').trim_end_matches("+00:00").replace('T', " ");
    chrono::NaiveDateTime::parse_from_str(&naive, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|moment| moment.and_utc().timestamp_micros())
}

fn hash_messages(messages: &[(String, String)]) -> [u8; 32] {
    let json = serde_json::to_string(messages).unwrap_or_default();
    Sha256::digest(json.as_bytes()).into()
}

/// Parses and validates one raw line the way the rules describe.
pub fn parse_line(line: &str) -> ParsedLine {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
        return ParsedLine::Quarantined("invalid_json");
    };
    let text = match object.get("text") {
        Some(Value::Object(text)) => text.clone(),
        Some(Value::String(embedded)) => match serde_json::from_str::<Value>(embedded) {
            Ok(Value::Object(text)) => text,
            _ => return ParsedLine::Quarantined("invalid_json"),
        },
        _ => return ParsedLine::Quarantined("invalid_row"),
    };
    let (Some(id), Some(micros)) = (
        object.get("id").and_then(Value::as_u64),
        object.get("date").and_then(Value::as_str).and_then(parse_date),
    ) else {
        return ParsedLine::Quarantined("invalid_row");
    };
    let Some(messages) = text
        .get("payload")
        .and_then(|payload| payload.get("messages"))
        .and_then(Value::as_array)
    else {
        return ParsedLine::Quarantined("invalid_row");
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for message in messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content").and_then(Value::as_str).unwrap_or("");
        pairs.push((role.to_string(), content.to_string()));
    }
    let alternating = pairs.len() % 2 == 1
        && pairs
            .iter()
            .enumerate()
            .all(|(index, (role, _))| role == if index % 2 == 0 { "user" } else { "assistant" });
    if !alternating {
        return ParsedLine::Quarantined("non_alternating_roles");
    }
    let headers: Vec<(String, String)> = match text.get("headers") {
        Some(Value::Object(headers)) => headers
            .iter()
            .filter_map(|(name, value)| value.as_str().map(|value| (name.clone(), value.to_string())))
            .collect(),
        Some(Value::String(repr)) => match parse_python_str_dict(repr) {
            Some(headers) => headers,
            None => return ParsedLine::Quarantined("bad_headers"),
        },
        _ => return ParsedLine::Quarantined("bad_headers"),
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let Some(forwarded) = header("x-forwarded-for") else {
        return ParsedLine::Quarantined("missing_client_ip");
    };
    let reply = text
        .get("partial_words")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let model = text.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    let user_content = pairs.last().map(|(_, content)| content.clone()).unwrap_or_default();
    let previous_hash = (pairs.len() > 1).then(|| hash_messages(&pairs[..pairs.len() - 1]));
    let mut full = pairs;
    full.push(("assistant".to_string(), reply.clone()));
    ParsedLine::Row(Box::new(LinkRow {
        id,
        micros,
        fingerprint: (
            header("user-agent").unwrap_or_default(),
            header("accept-language").unwrap_or_default(),
        ),
        ip: forwarded.split(',').next().unwrap_or("").trim().to_string(),
        model,
        current_hash: hash_messages(&full),
        previous_hash,
        user_content,
        reply,
    }))
}

pub struct LinkOutcome {
    /// (turn ids first to last, model), sorted by first id.
    pub conversations: Vec<(Vec<u64>, String)>,
    pub dropped_chains: u64,
    pub rows_in_dropped_chains: u64,
}

/// Links rows in (date, id) order: a row with history takes the most recent unextended row
/// whose full hash equals its history hash, same fingerprint, IP and model, else same
/// fingerprint and model; chains whose first row had history but no parent are dropped.
pub fn link(mut rows: Vec<LinkRow>) -> LinkOutcome {
    rows.sort_by_key(|row| (row.micros, row.id));
    let count = rows.len();
    let mut extended = vec![false; count];
    let mut parent: Vec<Option<usize>> = vec![None; count];
    let mut orphan = vec![false; count];
    let mut by_current_hash: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for index in 0..count {
        if let Some(previous) = rows[index].previous_hash {
            let row = &rows[index];
            let candidates: Vec<usize> = by_current_hash
                .get(&previous)
                .map(|earlier| {
                    earlier
                        .iter()
                        .rev()
                        .copied()
                        .filter(|&candidate| {
                            !extended[candidate]
                                && rows[candidate].fingerprint == row.fingerprint
                                && rows[candidate].model == row.model
                        })
                        .collect()
                })
                .unwrap_or_default();
            let chosen = candidates
                .iter()
                .copied()
                .find(|&candidate| rows[candidate].ip == row.ip)
                .or(candidates.first().copied());
            match chosen {
                Some(chosen) => {
                    parent[index] = Some(chosen);
                    extended[chosen] = true;
                }
                None => orphan[index] = true,
            }
        }
        by_current_hash.entry(rows[index].current_hash).or_default().push(index);
    }
    let mut outcome = LinkOutcome {
        conversations: Vec::new(),
        dropped_chains: 0,
        rows_in_dropped_chains: 0,
    };
    for last in (0..count).filter(|&index| !extended[index]) {
        let mut chain = vec![last];
        while let Some(previous) = parent[*chain.last().unwrap_or(&last)] {
            chain.push(previous);
        }
        chain.reverse();
        if chain.iter().any(|&index| orphan[index]) {
            outcome.dropped_chains += 1;
            outcome.rows_in_dropped_chains += chain.len() as u64;
        } else {
            let ids = chain.iter().map(|&index| rows[index].id).collect();
            outcome.conversations.push((ids, rows[last].model.clone()));
        }
    }
    outcome.conversations.sort();
    outcome
}

/// Counts quarantine reasons.
pub fn count_reasons<'a>(reasons: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason.to_string()).or_insert(0) += 1;
    }
    counts
}
