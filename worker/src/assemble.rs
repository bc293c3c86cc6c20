//! Turning a linked chain of rows into a released conversation record (DESIGN §6,
//! conversation fields): turns from each row's new user message and reply, the last row's
//! model and time, the most frequent header, and the conversation hash.

use std::collections::HashMap;
use std::hash::Hash;

use shared::canonical_json::conversation_hash;
use shared::raw::LinkRow;

use crate::enrich::Enrichment;
use geoip::GeoAnswer;
use language::LanguageDetector;
use release::record::{Conversation, Header, Role, Turn};

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

/// User turns whose place stayed unknown, by cause (DESIGN §8: skipped work is counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeoCounts {
    /// The client IP text is not an address (kept as logged, hashed, no place).
    pub not_an_address: u64,
    /// An address the GeoIP database does not place (private ranges, unassigned space).
    pub unknown_address: u64,
    /// A database error for the address.
    pub lookup_errors: u64,
}

impl GeoCounts {
    /// Adds them to `counters` as `geoip.not_an_address`, `geoip.unknown_address` and
    /// `geoip.lookup_errors` (the manifest's `counters.geoip`).
    pub fn add_to(&self, counters: &mut shared::counters::Counters) {
        counters.add("geoip.not_an_address", self.not_an_address);
        counters.add("geoip.unknown_address", self.unknown_address);
        counters.add("geoip.lookup_errors", self.lookup_errors);
    }
}

/// Builds the conversation for `chain` (indices into `rows`, first to last), language labels
/// included. The rows' texts are moved into the record, not copied: each row belongs to at most
/// one conversation. A user turn left without a place is counted in `geo` by cause.
pub fn assemble_conversation(
    rows: &mut [LinkRow],
    chain: &[usize],
    enrichment: &Enrichment,
    geo: &mut GeoCounts,
) -> Conversation {
    let mut conversation = assemble_unlabelled(rows, chain, enrichment, geo);
    label_languages(&mut conversation, enrichment.language.as_deref());
    conversation
}

/// Labels each turn's language and the conversation's: the most frequent turn label, ties to
/// the first (DESIGN §6). Without a detector every label stays null. A conversation's labels
/// depend on its texts only, so conversations can be labelled in any order, in parallel.
pub fn label_languages(conversation: &mut Conversation, detector: Option<&LanguageDetector>) {
    let Some(detector) = detector else {
        return;
    };
    for turn in &mut conversation.turns {
        turn.language = Some(detector.label(&turn.content).to_string());
    }
    conversation.language = most_frequent(conversation.turns.iter().filter_map(|turn| turn.language.clone()));
}

/// [`assemble_conversation`] without the language labels ([`label_languages`] adds them).
pub fn assemble_unlabelled(
    rows: &mut [LinkRow],
    chain: &[usize],
    enrichment: &Enrichment,
    geo: &mut GeoCounts,
) -> Conversation {
    debug_assert!(!chain.is_empty(), "a conversation has at least one row");
    let mut turns = Vec::with_capacity(chain.len() * 2);
    for &index in chain {
        let row = &mut rows[index];
        // A user turn is located with the database dated for its reply.
        let place = if row.ip.parse::<std::net::IpAddr>().is_err() {
            geo.not_an_address += 1;
            GeoAnswer::default()
        } else {
            match enrichment.locate(&row.ip, row.timestamp_us) {
                Ok(place) => {
                    geo.unknown_address += u64::from(enrichment.geo.is_some() && place.country.is_none());
                    place
                }
                Err(_) => {
                    geo.lookup_errors += 1;
                    GeoAnswer::default()
                }
            }
        };
        turns.push(Turn {
            country: place.country,
            state: place.state,
            hashed_ip: enrichment.hash_ip(&row.ip),
            header: Some(Header {
                accept_language: row.accept_language.clone(),
                user_agent: row.user_agent.clone(),
            }),
            ..Turn::new(Role::User, std::mem::take(&mut row.user_content), row.id)
        });
        turns.push(Turn {
            timestamp_us: Some(row.timestamp_us),
            ..Turn::new(Role::Assistant, std::mem::take(&mut row.assistant_content), row.id)
        });
    }
    let last = &rows[chain[chain.len() - 1]];
    let user_turns = || turns.iter().filter(|turn| turn.role == Role::User);
    let header = most_frequent(user_turns().filter_map(|turn| turn.header.clone()));
    let hashed_ip = most_frequent(user_turns().filter_map(|turn| turn.hashed_ip.clone()));
    // Country and state are taken as a pair so the conversation never mixes two places.
    let place = most_frequent(user_turns().map(|turn| (turn.country.clone(), turn.state.clone())));
    let (country, state) = place.unwrap_or((None, None));
    let hash = conversation_hash(turns.iter().map(|turn| (turn.content.as_str(), turn.role.as_str())));
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
    use geoip::{GeoDatabaseSpec, GeoResolver};
    use ip_hash::IpSalt;

    fn row(id: i64, ip: &str, user_agent: &str) -> LinkRow {
        LinkRow {
            id,
            timestamp_us: 1_700_000_000_000_000 + id,
            model: "gpt-4-0314".into(),
            fingerprint: "f".into(),
            ip: ip.into(),
            user_agent: Some(user_agent.into()),
            accept_language: None,
            current_hash: String::new(),
            prev_hash: None,
            user_content: format!("question {id}"),
            assistant_content: format!("answer {id}"),
        }
    }

    #[test]
    fn conversation_fields_take_the_most_frequent_user_turn_values() {
        let database = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/geo/GeoLite2-City-Test.mmdb");
        let spec = GeoDatabaseSpec::parse(database).unwrap();
        let enrichment = Enrichment {
            salt: Some(IpSalt::from_hex("000102030405060708090a0b0c0d0e0f").unwrap()),
            geo: Some(GeoResolver::open(&[spec]).unwrap()),
            language: None,
            toxicity: None,
            pii_ner: None,
            moderation: None,
        };
        // The second address moves the user out of the database; the first one wins 2 to 1.
        let mut rows = vec![
            row(1, "81.2.69.142", "a"),
            row(2, "10.1.1.1", "b"),
            row(3, "81.2.69.142", "b"),
        ];
        let mut geo = GeoCounts::default();
        let conversation = assemble_conversation(&mut rows, &[0, 1, 2], &enrichment, &mut geo);
        // 10.1.1.1 is a private address the database cannot place.
        assert_eq!(
            geo,
            GeoCounts {
                unknown_address: 1,
                ..GeoCounts::default()
            }
        );
        assert_eq!(conversation.turn, 3);
        assert_eq!(conversation.turns.len(), 6);
        assert_eq!(conversation.model, "gpt-4-0314");
        assert_eq!(conversation.timestamp_us, 1_700_000_000_000_003);
        assert_eq!(conversation.country.as_deref(), Some("United Kingdom"));
        assert_eq!(conversation.state.as_deref(), Some("England"));
        assert_eq!(conversation.hashed_ip, enrichment.hash_ip("81.2.69.142"));
        assert_eq!(
            conversation
                .header
                .as_ref()
                .and_then(|header| header.user_agent.as_deref()),
            Some("b")
        );
        assert_eq!(conversation.turns[2].country, None);
        assert_eq!(conversation.turns[1].timestamp_us, Some(1_700_000_000_000_001));
        assert_eq!(conversation.turns[1].hashed_ip, None, "assistant turns carry no ip");
        assert_eq!(
            conversation.conversation_hash,
            conversation_hash(
                conversation
                    .turns
                    .iter()
                    .map(|turn| (turn.content.as_str(), turn.role.as_str()))
            )
        );
    }

    #[test]
    fn most_frequent_breaks_ties_by_first_occurrence() {
        assert_eq!(most_frequent(["b", "a", "a", "b"]), Some("b"));
        assert_eq!(most_frequent(["c", "a", "a", "b"]), Some("a"));
        assert_eq!(most_frequent(Vec::<&str>::new()), None);
    }
}
