//! PII in the pipeline (DESIGN §6): the analyse job detects entities per turn and counts, per
//! partition, in how many conversations each string was detected; the coordinator merges those
//! counts into the run's set of frequent strings; the finalise job redacts by policy with it.
//! Count keys are hashes of (type, normalised string), so the count objects hold no PII text.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context};
use credentials::SecretScanner;
use pii::policy::{Operator, Policy, Redaction, TurnText};
use pii::{Detector, EntityType, Span};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::canonical_json::conversation_hash;
use shared::counters::Counters;
use shared::jobs::{PiiOperator, PiiPolicyConfig, PiiPolicyKind};

use ip_hash::IpSalt;
use release::record::Conversation;

/// Builds the run's policy from its settings. The hash operator keys its hashes with a key
/// derived from the IP salt, so hashed values are stable across runs with the same salt.
pub fn build_policy(config: &PiiPolicyConfig, salt: Option<&IpSalt>) -> anyhow::Result<Policy> {
    match config.policy {
        PiiPolicyKind::Reference => Ok(Policy::reference()),
        PiiPolicyKind::Strict => {
            let mut types = Vec::new();
            for name in &config.types {
                types.push(name.parse::<EntityType>().map_err(|error| {
                    anyhow::anyhow!("pii types: {error}; use Presidio names such as PERSON, EMAIL_ADDRESS")
                })?);
            }
            let operator = match config.operator {
                PiiOperator::Replace => Operator::Replace,
                PiiOperator::Mask => Operator::Mask,
                PiiOperator::Hash => Operator::Hash,
            };
            let hash_key = match (operator, salt) {
                (Operator::Hash, Some(salt)) => salt.derived_key("wildchat-pii-hash"),
                (Operator::Hash, None) => bail!("the pii hash operator needs the IP salt to key its hashes"),
                _ => Vec::new(),
            };
            Ok(Policy::strict(types, operator, hash_key))
        }
    }
}

/// The policy as far as its document-frequency limits go (the coordinator's merge): the same
/// checks as [`build_policy`], without the key the hash operator needs.
pub fn limits_policy(config: &PiiPolicyConfig) -> anyhow::Result<Policy> {
    let without_hash = PiiPolicyConfig {
        operator: PiiOperator::Replace,
        ..config.clone()
    };
    build_policy(&without_hash, None)
}

/// One detected span as the intermediate keeps it (code-point offsets into the turn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSpan {
    pub entity: String,
    pub start: u32,
    pub end: u32,
    pub score: f32,
}

impl StoredSpan {
    fn from_span(span: &Span) -> StoredSpan {
        StoredSpan {
            entity: span.entity.as_str().to_string(),
            start: span.start as u32,
            end: span.end as u32,
            score: span.score,
        }
    }

    fn to_span(&self) -> anyhow::Result<Span> {
        Ok(Span {
            entity: self
                .entity
                .parse()
                .map_err(|error| anyhow::anyhow!("stored pii span: {error}"))?,
            start: self.start as usize,
            end: self.end as usize,
            score: self.score,
        })
    }
}

/// The spans detected in one turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSpans {
    pub turn: u32,
    pub spans: Vec<StoredSpan>,
}

/// A conversation as the analyse job leaves it for the finalise job: every stage but redaction
/// done, the text still unredacted, and the PII spans detected in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysedConversation {
    pub conversation: Conversation,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<TurnSpans>,
}

/// A document-frequency key: the entity type and 16 bytes of
/// `sha256(type name || 0 || doc_freq_key(span text))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey {
    pub entity: u8,
    pub hash: [u8; 16],
}

fn entity_index(entity: EntityType) -> u8 {
    EntityType::ALL
        .iter()
        .position(|candidate| *candidate == entity)
        .expect("every entity type is in EntityType::ALL") as u8
}

/// The key of a normalised string (`doc_freq_key` already applied) detected as `entity`.
pub fn doc_key(entity: EntityType, normalised: &str) -> DocKey {
    let mut hasher = Sha256::new();
    hasher.update(entity.as_str().as_bytes());
    hasher.update([0u8]);
    hasher.update(normalised.as_bytes());
    let digest = hasher.finalize();
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    DocKey {
        entity: entity_index(entity),
        hash,
    }
}

const COUNTS_MAGIC: &[u8] = b"WCPIICOUNTS1\n";
const FREQUENT_MAGIC: &[u8] = b"WCPIIFREQ1\n";
const KEY_BYTES: usize = 17;

fn decode_with_magic<'a>(what: &str, magic: &[u8], bytes: &'a [u8], entry: usize) -> anyhow::Result<&'a [u8]> {
    let Some(body) = bytes.strip_prefix(magic) else {
        bail!("{what}: not a pii {what} object (bad header)");
    };
    if body.len() % entry != 0 {
        bail!("{what}: truncated ({} bytes after the header)", body.len());
    }
    Ok(body)
}

fn read_key(chunk: &[u8]) -> anyhow::Result<DocKey> {
    let entity = chunk[0];
    if entity as usize >= EntityType::ALL.len() {
        bail!("entity index {entity} out of range");
    }
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&chunk[1..KEY_BYTES]);
    Ok(DocKey { entity, hash })
}

/// In how many conversations each key was detected (a partition's, or the run's once merged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocCounts {
    counts: HashMap<DocKey, u64>,
}

impl DocCounts {
    /// Counts one conversation's keys (each once, however often it occurs).
    pub fn add_conversation(&mut self, keys: &HashSet<DocKey>) {
        for key in keys {
            *self.counts.entry(*key).or_insert(0) += 1;
        }
    }

    pub fn merge(&mut self, other: &DocCounts) {
        for (key, count) in &other.counts {
            *self.counts.entry(*key).or_insert(0) += count;
        }
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn get(&self, key: &DocKey) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// Sorted fixed-size entries, zstd-compressed: the same counts give the same bytes.
    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let mut entries: Vec<(&DocKey, &u64)> = self.counts.iter().collect();
        entries.sort_unstable();
        let mut plain = Vec::with_capacity(COUNTS_MAGIC.len() + entries.len() * (KEY_BYTES + 8));
        plain.extend_from_slice(COUNTS_MAGIC);
        for (key, count) in entries {
            plain.push(key.entity);
            plain.extend_from_slice(&key.hash);
            plain.extend_from_slice(&count.to_le_bytes());
        }
        zstd::stream::encode_all(plain.as_slice(), 3).context("compressing pii counts")
    }

    pub fn decode(compressed: &[u8]) -> anyhow::Result<DocCounts> {
        let plain = zstd::stream::decode_all(compressed).context("decompressing pii counts")?;
        let body = decode_with_magic("counts", COUNTS_MAGIC, &plain, KEY_BYTES + 8)?;
        let mut counts = HashMap::with_capacity(body.len() / (KEY_BYTES + 8));
        for chunk in body.chunks_exact(KEY_BYTES + 8) {
            let key = read_key(chunk)?;
            let count = u64::from_le_bytes(chunk[KEY_BYTES..].try_into().expect("8 count bytes"));
            *counts.entry(key).or_insert(0) += count;
        }
        Ok(DocCounts { counts })
    }

    /// The keys at or over the policy's limit for their type: the strings the policy keeps.
    pub fn frequent(&self, policy: &Policy) -> FrequentSet {
        let keys = self
            .counts
            .iter()
            .filter(|(key, count)| {
                policy
                    .frequency_limit(EntityType::ALL[key.entity as usize])
                    .is_some_and(|limit| **count >= limit)
            })
            .map(|(key, _)| *key)
            .collect();
        FrequentSet { keys }
    }
}

/// The run's strings whose document frequency reached their type's limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrequentSet {
    keys: HashSet<DocKey>,
}

impl FrequentSet {
    pub fn contains(&self, key: &DocKey) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let mut keys: Vec<&DocKey> = self.keys.iter().collect();
        keys.sort_unstable();
        let mut plain = Vec::with_capacity(FREQUENT_MAGIC.len() + keys.len() * KEY_BYTES);
        plain.extend_from_slice(FREQUENT_MAGIC);
        for key in keys {
            plain.push(key.entity);
            plain.extend_from_slice(&key.hash);
        }
        zstd::stream::encode_all(plain.as_slice(), 3).context("compressing the frequent pii set")
    }

    pub fn decode(compressed: &[u8]) -> anyhow::Result<FrequentSet> {
        let plain = zstd::stream::decode_all(compressed).context("decompressing the frequent pii set")?;
        let body = decode_with_magic("frequent set", FREQUENT_MAGIC, &plain, KEY_BYTES)?;
        let keys = body
            .chunks_exact(KEY_BYTES)
            .map(read_key)
            .collect::<anyhow::Result<_>>()?;
        Ok(FrequentSet { keys })
    }
}

/// Whether a turn with this label is analysed (a turn whose language is unknown always is).
fn analysed(policy: &Policy, language: Option<&str>) -> bool {
    language.is_none_or(|label| policy.analyses_language(label))
}

/// Detects PII in every turn the policy analyses. Returns the conversations with their spans and
/// the partition's document-frequency counts; counts spans per type in `counters`.
pub fn detect_conversations(
    conversations: Vec<Conversation>,
    policy: &Policy,
    detector: &Detector,
    ner: Option<&pii::ner::NerModel>,
    counters: &mut Counters,
) -> anyhow::Result<(Vec<AnalysedConversation>, DocCounts)> {
    // The model's spans for every analysed turn, batched (it parallelises inside).
    let mut model_spans: HashMap<(usize, usize), Vec<Span>> = HashMap::new();
    if let Some(model) = ner {
        let mut places = Vec::new();
        let mut texts = Vec::new();
        for (conversation_index, conversation) in conversations.iter().enumerate() {
            for (turn_index, turn) in conversation.turns.iter().enumerate() {
                if !turn.content.is_empty() && analysed(policy, turn.language.as_deref()) {
                    places.push((conversation_index, turn_index));
                    texts.push(turn.content.as_str());
                }
            }
        }
        let found = model.detect_batch(&texts).context("running the pii ner model")?;
        model_spans = places.into_iter().zip(found).collect();
    }
    let detected: Vec<(AnalysedConversation, HashSet<DocKey>)> = conversations
        .into_par_iter()
        .enumerate()
        .map(|(conversation_index, conversation)| {
            let mut spans = Vec::new();
            let mut keys = HashSet::new();
            for (index, turn) in conversation.turns.iter().enumerate() {
                if turn.content.is_empty() || !analysed(policy, turn.language.as_deref()) {
                    continue;
                }
                let mut found = detector.detect(&turn.content);
                if let Some(model) = model_spans.get(&(conversation_index, index)) {
                    found = pii::ner::merge_spans(found, model.clone());
                }
                if found.is_empty() {
                    continue;
                }
                for (entity, normalised) in policy.counted_keys(&turn.content, &found) {
                    keys.insert(doc_key(entity, &normalised));
                }
                spans.push(TurnSpans {
                    turn: index as u32,
                    spans: found.iter().map(StoredSpan::from_span).collect(),
                });
            }
            (AnalysedConversation { conversation, spans }, keys)
        })
        .collect();
    let mut counts = DocCounts::default();
    let mut analysed_conversations = Vec::with_capacity(detected.len());
    for (conversation, keys) in detected {
        for turn in &conversation.spans {
            for span in &turn.spans {
                counters.add(&format!("pii_detected.{}", span.entity), 1);
            }
        }
        counts.add_conversation(&keys);
        analysed_conversations.push(conversation);
    }
    Ok((analysed_conversations, counts))
}

/// Redacts every turn by policy (secrets in every turn, entities in the analysed ones), sets the
/// turn and conversation `redacted` flags, and computes `conversation_hash` over the redacted
/// turns (DESIGN §6). Counts what was replaced in `counters`.
pub fn finalise_conversations(
    analysed_conversations: Vec<AnalysedConversation>,
    policy: &Policy,
    frequent: &FrequentSet,
    scanner: &SecretScanner,
    counters: &mut Counters,
) -> anyhow::Result<Vec<Conversation>> {
    let doc_freq = |entity: EntityType, normalised: &str| -> u64 {
        if frequent.contains(&doc_key(entity, normalised)) {
            u64::MAX
        } else {
            0
        }
    };
    let finished: Vec<(Conversation, Counters)> = analysed_conversations
        .into_par_iter()
        .map(|analysed| -> anyhow::Result<(Conversation, Counters)> {
            let AnalysedConversation {
                mut conversation,
                spans,
            } = analysed;
            let mut local = Counters::default();
            let mut spans_by_turn: HashMap<u32, Vec<Span>> = HashMap::new();
            for turn_spans in spans {
                let parsed = turn_spans
                    .spans
                    .iter()
                    .map(StoredSpan::to_span)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                spans_by_turn.insert(turn_spans.turn, parsed);
            }
            let mut any = false;
            for (index, turn) in conversation.turns.iter_mut().enumerate() {
                let secrets = scanner.scan(&turn.content);
                let spans = spans_by_turn.get(&(index as u32)).map(Vec::as_slice).unwrap_or(&[]);
                if secrets.is_empty() && spans.is_empty() {
                    turn.redacted = Some(false);
                    continue;
                }
                let text = TurnText {
                    text: &turn.content,
                    language: turn.language.as_deref().unwrap_or(""),
                };
                let Redaction {
                    text,
                    redacted,
                    replaced,
                } = policy.redact(text, spans, &secrets, &doc_freq);
                for item in &replaced {
                    local.add(&replaced_counter(&item.label), 1);
                }
                if redacted {
                    turn.content = text;
                    local.add("redacted_turns", 1);
                }
                turn.redacted = Some(redacted);
                any |= redacted;
            }
            conversation.redacted = Some(any);
            local.add("redacted_conversations", u64::from(any));
            conversation.conversation_hash = conversation_hash(
                conversation
                    .turns
                    .iter()
                    .map(|turn| (turn.content.as_str(), turn.role.as_str())),
            );
            Ok((conversation, local))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut conversations = Vec::with_capacity(finished.len());
    for (conversation, local) in finished {
        counters.merge(&local);
        conversations.push(conversation);
    }
    Ok(conversations)
}

fn replaced_counter(label: &pii::policy::ReplacedLabel) -> String {
    match label {
        pii::policy::ReplacedLabel::Entity(entity) => format!("pii_redacted.{}", entity.as_str()),
        pii::policy::ReplacedLabel::Secret(kind) => format!("secrets_redacted.{}", kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use release::record::{Role, Turn};

    fn conversation(texts: &[&str]) -> Conversation {
        let turns: Vec<Turn> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| Turn {
                language: Some("English".to_string()),
                ..Turn::new(
                    if index % 2 == 0 { Role::User } else { Role::Assistant },
                    text.to_string(),
                    index as i64,
                )
            })
            .collect();
        Conversation {
            conversation_hash: String::new(),
            model: "gpt-4".into(),
            timestamp_us: 0,
            turn: turns.len().div_ceil(2) as i64,
            turns,
            language: Some("English".into()),
            toxic: None,
            redacted: None,
            state: None,
            country: None,
            hashed_ip: None,
            header: None,
        }
    }

    #[test]
    fn counts_and_frequent_sets_round_trip_and_apply_the_type_limits() {
        let email = doc_key(EntityType::EMAIL_ADDRESS, "a@b.org");
        let person = doc_key(EntityType::PERSON, "alice johnson");
        let mut counts = DocCounts::default();
        for _ in 0..10 {
            counts.add_conversation(&HashSet::from([email, person]));
        }
        let decoded = DocCounts::decode(&counts.encode().unwrap()).unwrap();
        assert_eq!(decoded, counts);
        let mut merged = decoded.clone();
        merged.merge(&counts);
        assert_eq!(merged.get(&email), 20);

        let frequent = counts.frequent(&Policy::reference());
        assert!(frequent.contains(&email), "10 conversations reach the limit of 10");
        assert!(!frequent.contains(&person), "names are kept only from 50 conversations");
        assert_eq!(FrequentSet::decode(&frequent.encode().unwrap()).unwrap(), frequent);
        assert!(
            FrequentSet::decode(&counts.encode().unwrap()).is_err(),
            "wrong object kind"
        );
        assert!(DocCounts::decode(b"not zstd").is_err());
    }

    #[test]
    fn finalise_redacts_rare_strings_keeps_frequent_ones_and_hashes_the_redacted_text() {
        let policy = Policy::reference();
        let text = "Please write to me at jane.roe@mailbox.org about it.";
        let mut counters = Counters::default();
        let (analysed, counts) = detect_conversations(
            vec![conversation(&[text, "Sure."]), conversation(&["no pii here", "ok"])],
            &policy,
            pii::detector(),
            None,
            &mut counters,
        )
        .unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!(counters.get("pii_detected.EMAIL_ADDRESS"), 1);

        let mut redacted_counters = Counters::default();
        let rare = finalise_conversations(
            analysed.clone(),
            &policy,
            &counts.frequent(&policy),
            credentials::scanner(),
            &mut redacted_counters,
        )
        .unwrap();
        assert_eq!(
            rare[0].turns[0].content,
            "Please write to me at <PRESIDIO_ANONYMIZED_EMAIL_ADDRESS> about it."
        );
        assert_eq!(rare[0].turns[0].redacted, Some(true));
        assert_eq!(rare[0].turns[1].redacted, Some(false));
        assert_eq!(rare[0].redacted, Some(true));
        assert_eq!(rare[1].redacted, Some(false));
        assert_eq!(
            rare[0].conversation_hash,
            conversation_hash(
                rare[0]
                    .turns
                    .iter()
                    .map(|turn| (turn.content.as_str(), turn.role.as_str()))
            )
        );
        assert_eq!(redacted_counters.get("redacted_turns"), 1);
        assert_eq!(redacted_counters.get("pii_redacted.EMAIL_ADDRESS"), 1);

        // The same string seen in 10 conversations run-wide is kept.
        let mut many = DocCounts::default();
        for _ in 0..10 {
            many.merge(&counts);
        }
        let kept = finalise_conversations(
            analysed,
            &policy,
            &many.frequent(&policy),
            credentials::scanner(),
            &mut Counters::default(),
        )
        .unwrap();
        assert_eq!(kept[0].turns[0].content, text);
        assert_eq!(kept[0].redacted, Some(false));
    }

    #[test]
    fn strict_settings_are_checked() {
        let strict = |types: &[&str], operator: PiiOperator| PiiPolicyConfig {
            policy: PiiPolicyKind::Strict,
            types: types.iter().map(|name| name.to_string()).collect(),
            operator,
        };
        assert!(build_policy(&strict(&["EMAIL_ADDRESS"], PiiOperator::Mask), None).is_ok());
        let error = build_policy(&strict(&["NAME"], PiiOperator::Mask), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("NAME"), "{error}");
        assert!(
            build_policy(&strict(&[], PiiOperator::Hash), None).is_err(),
            "hash needs the salt"
        );
        assert!(limits_policy(&strict(&[], PiiOperator::Hash)).is_ok());
        let salt = IpSalt::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        assert!(build_policy(&strict(&[], PiiOperator::Hash), Some(&salt)).is_ok());
        // Names are parsed at the edge: a misspelt operator or policy never reaches a worker.
        assert!("blur"
            .parse::<PiiOperator>()
            .unwrap_err()
            .contains("use replace, mask or hash"));
        assert!("lenient"
            .parse::<PiiPolicyKind>()
            .unwrap_err()
            .contains("use reference or strict"));
        let from_toml: Result<PiiPolicyConfig, _> = serde_json::from_str(r#"{"policy": "lenient"}"#);
        assert!(from_toml.is_err());
    }
}
