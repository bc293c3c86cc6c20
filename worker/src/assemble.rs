//! Turning a linked chain of rows into a released conversation record (DESIGN §6,
//! conversation fields): turns from each row's new user message and reply, the last row's
//! model and time, the most frequent header, and the conversation hash.

use std::collections::HashMap;
use std::hash::Hash;

use shared::canonical_json::conversation_hash;
use shared::raw::LinkRow;

use crate::enrich::Enrichment;
use crate::release::{Conversation, Header, Turn};

/// The most frequent value; ties go to the value seen first.
pub fn most_frequent<T: Eq + Hash + Clone>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut counts: HashMap<T, (usize, usize)> = HashMap::new();
    for (position, value) in values.into_iter().enumerate() {
        counts.entry(value).or_insert((0, position)).0 += 1;
    }
    counts
        .into_iter()
        .max_by(|(_, (left_count, left_first)), (_, (right_count, right_first))| {
            left_count.cmp(right_count).then(right_first.cmp(left_first))
        })
        .map(|(value, _)| value)
}

/// Builds the conversation for `chain` (indices into `rows`, first to last). The rows' texts
/// are moved into the record, not copied: each row belongs to at most one conversation.
pub fn assemble_conversation(rows: &mut [LinkRow], chain: &[usize], enrichment: &Enrichment) -> Conversation {
    debug_assert!(!chain.is_empty(), "a conversation has at least one row");
    let mut turns = Vec::with_capacity(chain.len() * 2);
    for &index in chain {
        let row = &mut rows[index];
        // A user turn is located with the database dated for its reply.
        let place = enrichment.locate(&row.ip, row.timestamp_us);
        turns.push(Turn {
            content: std::mem::take(&mut row.user_content),
            role: "user",
            turn_identifier: row.id,
            timestamp_us: None,
            country: place.country,
            state: place.state,
            hashed_ip: enrichment.hash_ip(&row.ip),
            header: Some(Header {
                accept_language: row.accept_language.clone(),
                user_agent: row.user_agent.clone(),
            }),
            language: None,
            redacted: None,
            toxic: None,
            detoxify: None,
        });
        turns.push(Turn {
            content: std::mem::take(&mut row.assistant_content),
            role: "assistant",
            turn_identifier: row.id,
            timestamp_us: Some(row.timestamp_us),
            country: None,
            state: None,
            hashed_ip: None,
            header: None,
            language: None,
            redacted: None,
            toxic: None,
            detoxify: None,
        });
    }
    let last = &rows[chain[chain.len() - 1]];
    let user_turns = || turns.iter().filter(|turn| turn.role == "user");
    let header = most_frequent(user_turns().filter_map(|turn| turn.header.clone()));
    let hashed_ip = most_frequent(user_turns().filter_map(|turn| turn.hashed_ip.clone()));
    // Country and state are taken as a pair so the conversation never mixes two places.
    let place = most_frequent(user_turns().map(|turn| (turn.country.clone(), turn.state.clone())));
    let (country, state) = place.unwrap_or((None, None));
    let hash = conversation_hash(turns.iter().map(|turn| (turn.content.as_str(), turn.role)));
    Conversation {
        conversation_hash: hash,
        model: last.model.clone(),
        timestamp_us: last.timestamp_us,
        turns,
        turn: chain.len() as i64,
        language: None,
        toxic: None,
        redacted: None,
        state,
        country,
        hashed_ip,
        header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_breaks_ties_by_first_occurrence() {
        assert_eq!(most_frequent(["b", "a", "a", "b"]), Some("b"));
        assert_eq!(most_frequent(["c", "a", "a", "b"]), Some("a"));
        assert_eq!(most_frequent(Vec::<&str>::new()), None);
    }
}
