//! Tests of verify, diff, amend and export on a small release in a local store: schema-correct
//! shards built with arrow, a manifest with both variants, statistics partials and a config.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{new_null_array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, FieldRef};
use bytes::Bytes;
use storage::{get_json, put_json, LocalStore, ObjectStore, PutMode};

use super::shard::{sha256_hex, write_shard};
use super::*;
use crate::manifest::{
    manifest_key, read_manifest, shard_key, shard_stats_key, Manifest, ShardEntry, Variant, MANIFEST_FORMAT,
};
use crate::record::release_schema;
use crate::stats::{merge, shard_stats, ShardStats};

#[derive(Clone)]
struct TestTurn {
    role: &'static str,
    content: String,
    turn_identifier: i64,
}

#[derive(Clone)]
struct TestConversation {
    hash: String,
    model: &'static str,
    language: &'static str,
    country: Option<&'static str>,
    toxic: bool,
    redacted: bool,
    turns: Vec<TestTurn>,
}

fn hash_of(number: u64) -> String {
    format!("{number:032x}")
}

/// Conversation `number`: `exchanges` user/assistant pairs, turn identifiers `number * 100 + k`.
fn conversation(number: u64, exchanges: usize, language: &'static str, toxic: bool) -> TestConversation {
    let mut turns = Vec::new();
    for exchange in 0..exchanges {
        let turn_identifier = (number * 100 + exchange as u64) as i64;
        turns.push(TestTurn {
            role: "user",
            content: format!("question {exchange} of conversation {number}"),
            turn_identifier,
        });
        turns.push(TestTurn {
            role: "assistant",
            content: format!("answer {exchange} of conversation {number}"),
            turn_identifier,
        });
    }
    TestConversation {
        hash: hash_of(number),
        model: if number.is_multiple_of(2) {
            "gpt-4-0314"
        } else {
            "gpt-3.5-turbo"
        },
        language,
        country: if number.is_multiple_of(3) { None } else { Some("France") },
        toxic,
        redacted: false,
        turns,
    }
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    let mut builder = BooleanBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn list_item(data_type: &DataType) -> FieldRef {
    match data_type {
        DataType::List(item) => Arc::clone(item),
        other => panic!("not a list: {other}"),
    }
}

/// One record batch in the release schema; the columns the tests do not look at are null.
fn batch_of(conversations: &[TestConversation]) -> RecordBatch {
    let schema = release_schema();
    let field_type = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    let turns: Vec<&TestTurn> = conversations
        .iter()
        .flat_map(|conversation| conversation.turns.iter())
        .collect();
    let lengths = || conversations.iter().map(|conversation| conversation.turns.len());

    let turn_item = list_item(&field_type("conversation"));
    let DataType::Struct(turn_fields) = turn_item.data_type() else {
        panic!("turns are not structs");
    };
    let turn_columns: Vec<ArrayRef> = turn_fields
        .iter()
        .map(|field| match field.name().as_str() {
            "content" => strings(turns.iter().map(|turn| Some(turn.content.as_str()))),
            "role" => strings(turns.iter().map(|turn| Some(turn.role))),
            "turn_identifier" => {
                let mut builder = Int64Builder::new();
                for turn in &turns {
                    builder.append_value(turn.turn_identifier);
                }
                Arc::new(builder.finish()) as ArrayRef
            }
            _ => new_null_array(field.data_type(), turns.len()),
        })
        .collect();
    let turn_struct = StructArray::try_new(turn_fields.clone(), turn_columns, None).unwrap();
    let list = |item: FieldRef, values: ArrayRef| -> ArrayRef {
        Arc::new(ListArray::new(
            item,
            OffsetBuffer::from_lengths(lengths()),
            values,
            None,
        ))
    };
    let moderation_item = list_item(&field_type("openai_moderation"));
    let detoxify_item = list_item(&field_type("detoxify_moderation"));
    let mut timestamps = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut turn_counts = Int64Builder::new();
    for conversation in conversations {
        timestamps.append_value(1_700_000_000_000_000);
        turn_counts.append_value((conversation.turns.len() / 2) as i64);
    }
    let columns: Vec<ArrayRef> = vec![
        strings(
            conversations
                .iter()
                .map(|conversation| Some(conversation.hash.as_str())),
        ),
        strings(conversations.iter().map(|conversation| Some(conversation.model))),
        Arc::new(timestamps.finish()),
        list(turn_item, Arc::new(turn_struct)),
        Arc::new(turn_counts.finish()),
        strings(conversations.iter().map(|conversation| Some(conversation.language))),
        list(
            Arc::clone(&moderation_item),
            new_null_array(moderation_item.data_type(), turns.len()),
        ),
        list(
            Arc::clone(&detoxify_item),
            new_null_array(detoxify_item.data_type(), turns.len()),
        ),
        bools(conversations.iter().map(|conversation| Some(conversation.toxic))),
        bools(conversations.iter().map(|conversation| Some(conversation.redacted))),
        new_null_array(&field_type("state"), conversations.len()),
        strings(conversations.iter().map(|conversation| conversation.country)),
        strings(conversations.iter().map(|_| Some("0123456789abcdef0123"))),
        new_null_array(&field_type("header"), conversations.len()),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn shard_bytes(conversations: &[TestConversation]) -> Vec<u8> {
    write_shard(release_schema(), &[batch_of(conversations)]).unwrap()
}

/// The conversations of v1's `full` shards: 12 conversations, 3 toxic.
fn v1_full_shards() -> Vec<Vec<TestConversation>> {
    vec![
        vec![
            conversation(1, 1, "English", false),
            conversation(2, 2, "English", true),
            conversation(3, 1, "French", false),
            conversation(4, 3, "English", false),
        ],
        vec![
            conversation(5, 1, "English", false),
            conversation(6, 2, "Chinese", false),
            conversation(7, 1, "English", true),
            conversation(8, 1, "English", false),
        ],
        vec![
            conversation(9, 4, "French", false),
            conversation(10, 1, "English", false),
            conversation(11, 2, "English", true),
            conversation(12, 1, "Chinese", false),
        ],
    ]
}

/// Publishes the shards of one variant with their statistics partials.
async fn publish_variant(
    store: &dyn ObjectStore,
    version: &str,
    variant: &str,
    shards: &[Vec<TestConversation>],
) -> (Variant, ShardStatsList) {
    let mut entries = Vec::new();
    let mut partials = Vec::new();
    for (index, conversations) in shards.iter().enumerate() {
        let body = shard_bytes(conversations);
        let key = shard_key(version, variant, index);
        let stats_key = shard_stats_key(version, variant, index);
        let partial = shard_stats(&body).unwrap();
        put_json(store, &stats_key, &partial, PutMode::CreateIfAbsent)
            .await
            .unwrap();
        entries.push(ShardEntry {
            key: key.clone(),
            rows: conversations.len() as u64,
            bytes: body.len() as u64,
            sha256: sha256_hex(&body),
            stats_key: Some(stats_key),
        });
        store
            .put(&key, Bytes::from(body), PutMode::CreateIfAbsent)
            .await
            .unwrap();
        partials.push(partial);
    }
    let rows = entries.iter().map(|entry| entry.rows).sum();
    (Variant { rows, shards: entries }, partials)
}

type ShardStatsList = Vec<ShardStats>;

/// v1: `full` in three shards, `nontoxic` in two (the non-toxic conversations of the first two
/// `full` shards, then those of the third).
async fn publish_v1(store: &dyn ObjectStore) -> Manifest {
    let full_shards = v1_full_shards();
    let nontoxic_shards: Vec<Vec<TestConversation>> = vec![
        full_shards[..2]
            .iter()
            .flatten()
            .filter(|conversation| !conversation.toxic)
            .cloned()
            .collect(),
        full_shards[2]
            .iter()
            .filter(|conversation| !conversation.toxic)
            .cloned()
            .collect(),
    ];
    let (full, full_partials) = publish_variant(store, "v1", "full", &full_shards).await;
    let (nontoxic, nontoxic_partials) = publish_variant(store, "v1", "nontoxic", &nontoxic_shards).await;
    let config = serde_json::json!({"license": "odc-by", "pretty_name": "Test conversations"});
    store
        .put(
            "releases/v1/config.json",
            Bytes::from(serde_json::to_vec_pretty(&config).unwrap()),
            PutMode::CreateIfAbsent,
        )
        .await
        .unwrap();
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: "v1".to_string(),
        parent: None,
        run_id: "run-1".to_string(),
        created_at: "2024-05-01T00:00:00Z".to_string(),
        code_version: "test".to_string(),
        schema: "WildChat-1M".to_string(),
        config,
        config_sha256: "0".repeat(64),
        inputs: Vec::new(),
        inputs_sha256: "0".repeat(64),
        variants: BTreeMap::from([("full".to_string(), full), ("nontoxic".to_string(), nontoxic)]),
        counters: serde_json::json!({"rows_read": 30, "quarantined": {}}),
        work: serde_json::Value::Null,
        quarantine: Vec::new(),
        statistics: BTreeMap::from([
            ("full".to_string(), serde_json::to_value(merge(&full_partials)).unwrap()),
            (
                "nontoxic".to_string(),
                serde_json::to_value(merge(&nontoxic_partials)).unwrap(),
            ),
        ]),
        amendment: None,
        fingerprint: None,
    };
    put_json(store, &manifest_key("v1"), &manifest, PutMode::CreateIfAbsent)
        .await
        .unwrap();
    manifest
}

fn test_store() -> (tempfile::TempDir, LocalStore) {
    let directory = tempfile::tempdir().unwrap();
    let store = LocalStore::open(directory.path()).unwrap();
    (directory, store)
}

fn options() -> AmendOptions {
    AmendOptions {
        code_version: "release-tests".to_string(),
        created_at: "2024-06-01T00:00:00Z".to_string(),
    }
}

fn no_pii(_: &str) -> Vec<String> {
    Vec::new()
}

#[tokio::test]
async fn verify_passes_a_sound_release() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let report = verify(
        &store,
        "v1",
        VerifyOptions {
            pii_sample: 10,
            pii_scan: Some(&no_pii),
        },
    )
    .await
    .unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.shards_checked, 5);
    assert_eq!(report.rows_checked, 12 + 9);
    let scan = report.pii_scan.as_ref().unwrap();
    assert_eq!(scan.turns_scanned, 10);
    assert!(report.to_string().starts_with("release v1: OK"), "{report}");
}

#[tokio::test]
async fn verify_detects_a_flipped_byte_and_a_missing_shard() {
    let (_directory, store) = test_store();
    let manifest = publish_v1(&store).await;
    let flipped_key = manifest.variants["full"].shards[1].key.clone();
    let mut body = store.get(&flipped_key).await.unwrap().to_vec();
    let middle = body.len() / 2;
    body[middle] ^= 0x01;
    store
        .put(&flipped_key, Bytes::from(body), PutMode::Overwrite)
        .await
        .unwrap();
    let missing_key = manifest.variants["nontoxic"].shards[0].key.clone();
    store.delete(&missing_key).await.unwrap();

    let report = verify(&store, "v1", VerifyOptions::default()).await.unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.key == flipped_key && problem.what.starts_with("sha256")),
        "{report}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.key == missing_key && problem.what == "shard is missing"),
        "{report}"
    );
    assert!(report
        .problems
        .iter()
        .all(|problem| problem.key == flipped_key || problem.key == missing_key));
    let text = report.to_string();
    assert!(text.starts_with("release v1: FAILED"), "{text}");
    assert!(text.contains(&missing_key) && text.contains(&flipped_key), "{text}");
}

#[tokio::test]
async fn verify_reports_a_toxic_row_in_nontoxic_and_a_wrong_row_count() {
    let (_directory, store) = test_store();
    let mut manifest = publish_v1(&store).await;
    // Replace nontoxic's second shard by one holding a toxic conversation, with a digest that
    // matches so only the content checks can tell.
    let body = shard_bytes(&[conversation(11, 2, "English", true)]);
    let entry = &mut manifest.variants.get_mut("nontoxic").unwrap().shards[1];
    store
        .put(&entry.key, Bytes::from(body.clone()), PutMode::Overwrite)
        .await
        .unwrap();
    entry.sha256 = sha256_hex(&body);
    entry.bytes = body.len() as u64;
    let key = entry.key.clone();
    put_json(&store, &manifest_key("v1"), &manifest, PutMode::Overwrite)
        .await
        .unwrap();

    let report = verify(&store, "v1", VerifyOptions::default()).await.unwrap();
    let whats: Vec<&str> = report
        .problems
        .iter()
        .filter(|problem| problem.key == key)
        .map(|problem| problem.what.as_str())
        .collect();
    assert!(whats.iter().any(|what| what.contains("holds 1 rows")), "{report}");
    assert!(whats.iter().any(|what| what.contains("toxic")), "{report}");
}

#[tokio::test]
async fn verify_reports_pii_by_place_and_kind_never_the_text() {
    let (_directory, store) = test_store();
    let manifest = publish_v1(&store).await;
    let mut with_email = conversation(13, 1, "English", false);
    with_email.turns[0].content = "write to jane.doe@mail.example please".to_string();
    let body = shard_bytes(&[with_email]);
    let mut manifest = manifest;
    let full = manifest.variants.get_mut("full").unwrap();
    let key = shard_key("v1", "full", 3);
    store
        .put(&key, Bytes::from(body.clone()), PutMode::CreateIfAbsent)
        .await
        .unwrap();
    full.shards.push(ShardEntry {
        key: key.clone(),
        rows: 1,
        bytes: body.len() as u64,
        sha256: sha256_hex(&body),
        stats_key: None,
    });
    full.rows += 1;
    put_json(&store, &manifest_key("v1"), &manifest, PutMode::Overwrite)
        .await
        .unwrap();

    let email_scan = |text: &str| -> Vec<String> {
        if text.contains('@') {
            vec!["EMAIL_ADDRESS".to_string()]
        } else {
            Vec::new()
        }
    };
    let options = || VerifyOptions {
        pii_sample: 1000,
        pii_scan: Some(&email_scan),
    };
    let report = verify(&store, "v1", options()).await.unwrap();
    assert!(report.problems.is_empty(), "{report}");
    assert!(!report.ok());
    let scan = report.pii_scan.as_ref().unwrap();
    assert_eq!(
        scan.turns_scanned,
        2 * (20 + 1),
        "every turn of full: 20 exchanges in v1, 1 added"
    );
    assert_eq!(scan.kinds, BTreeMap::from([("EMAIL_ADDRESS".to_string(), 1)]));
    let finding = &scan.findings[0];
    assert_eq!(
        (finding.shard.as_str(), finding.row, finding.turn),
        (key.as_str(), 0, 0)
    );
    assert_eq!(finding.conversation_hash.as_deref(), Some(hash_of(13).as_str()));
    let text = report.to_string();
    let json = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("jane.doe") && !json.contains("jane.doe"), "{text}");
    assert!(text.contains("EMAIL_ADDRESS"), "{text}");
}

#[tokio::test]
async fn the_pii_sample_is_deterministic_and_bounded() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let recording = |text: &str| -> Vec<String> {
        seen.lock().unwrap().push(text.to_string());
        Vec::new()
    };
    for _ in 0..2 {
        let report = verify(
            &store,
            "v1",
            VerifyOptions {
                pii_sample: 7,
                pii_scan: Some(&recording),
            },
        )
        .await
        .unwrap();
        assert_eq!(report.pii_scan.unwrap().turns_scanned, 7);
    }
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 14);
    assert_eq!(seen[..7], seen[7..]);
}

#[tokio::test]
async fn amend_rewrites_only_the_shards_that_held_removed_conversations() {
    let (_directory, store) = test_store();
    let parent = publish_v1(&store).await;
    // Conversations 2 (toxic) and 3 in full shard 0, 10 in full shard 2; none in full shard 1.
    let removal_list = format!(
        "# takedown requests\n{}\n\n{}  # second request\n{}\n",
        hash_of(2),
        hash_of(3).to_uppercase(),
        hash_of(10)
    );
    let manifest = amend(&store, "v1", removal_list.as_bytes(), "v2", &options())
        .await
        .unwrap();

    assert_eq!(manifest.parent.as_deref(), Some("v1"));
    assert_eq!(manifest.run_id, parent.run_id);
    assert_eq!(manifest.config, parent.config);
    let amendment = manifest.amendment.as_ref().unwrap();
    assert_eq!(amendment.removal_entries, 3);
    assert_eq!(amendment.removal_list_sha256, sha256_hex(removal_list.as_bytes()));
    assert_eq!(
        amendment.removed,
        BTreeMap::from([("full".to_string(), 3), ("nontoxic".to_string(), 2)])
    );
    assert_eq!(
        amendment.rewritten_shards,
        BTreeMap::from([("full".to_string(), 2), ("nontoxic".to_string(), 2)])
    );
    assert_eq!(manifest.variants["full"].rows, 9);
    assert_eq!(manifest.variants["nontoxic"].rows, 7);
    assert_eq!(manifest.counters["removed_by_amendment"]["full"], 3);
    assert_eq!(manifest.counters["rows_read"], 30);

    let old_full = &parent.variants["full"].shards;
    let new_full = &manifest.variants["full"].shards;
    assert_eq!(
        new_full[1].sha256, old_full[1].sha256,
        "the untouched shard is carried over"
    );
    assert_eq!(
        store.get(&new_full[1].key).await.unwrap(),
        store.get(&old_full[1].key).await.unwrap()
    );
    assert_ne!(new_full[0].sha256, old_full[0].sha256);
    assert_ne!(new_full[2].sha256, old_full[2].sha256);
    assert_eq!((new_full[0].rows, new_full[2].rows), (2, 3));

    // Every shard's partial is there and agrees with its shard; the statistics are re-merged.
    let mut partials = Vec::new();
    for entry in new_full {
        let partial: ShardStats = get_json(&store, entry.stats_key.as_deref().unwrap()).await.unwrap();
        assert_eq!(partial, shard_stats(&store.get(&entry.key).await.unwrap()).unwrap());
        partials.push(partial);
    }
    assert_eq!(
        manifest.statistics["full"],
        serde_json::to_value(merge(&partials)).unwrap()
    );
    assert_eq!(read_manifest(&store, "v2").await.unwrap(), manifest);
    assert!(store.head("releases/v2/README.md").await.unwrap().is_some());
    assert!(store.head("releases/v2/charts/languages.svg").await.unwrap().is_some());
    assert_eq!(
        store.get("releases/v2/config.json").await.unwrap(),
        store.get("releases/v1/config.json").await.unwrap()
    );
    let report = verify(&store, "v2", VerifyOptions::default()).await.unwrap();
    assert!(report.ok(), "{report}");

    let difference = diff(&store, "v1", "v2").await.unwrap();
    let mut expected_removed = vec![hash_of(2), hash_of(3), hash_of(10)];
    expected_removed.sort();
    assert_eq!(difference.removed, expected_removed);
    assert_eq!(difference.removed_count, 3);
    assert!(difference.added.is_empty());
    let full = &difference.variants["full"];
    assert_eq!((full.rows.a, full.rows.b, full.rows.delta), (12, 9, -3));
    assert_eq!(full.identical_shards.len(), 1);
    assert_eq!(full.identical_shards[0].b, new_full[1].key);
    let english = full.languages["English"];
    assert_eq!((english.a, english.b, english.delta), (8, 6, -2));
    assert_eq!(full.languages["French"].delta, -1);
    assert_eq!(full.languages["Chinese"].delta, 0);
    // Conversation 3 has no country, 2 and 10 are in France.
    assert_eq!(full.countries["(none)"].delta, -1);
    assert_eq!(full.countries["France"].delta, -2);
    let text = difference.to_string();
    assert!(text.contains("3 removed, 0 added"), "{text}");
    assert!(text.contains(&hash_of(10)), "{text}");
    let json: serde_json::Value = serde_json::to_value(&difference).unwrap();
    assert_eq!(json["removed"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn amend_removes_a_conversation_by_any_of_its_turn_identifiers() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    // 902 is the third exchange of conversation 9; 9999 matches nothing.
    let manifest = amend(&store, "v1", b"902\n9999\n", "v1.1", &options()).await.unwrap();
    let amendment = manifest.amendment.unwrap();
    assert_eq!(amendment.removal_entries, 2);
    assert_eq!(amendment.removed["full"], 1);
    assert_eq!(amendment.removed["nontoxic"], 1);
    assert_eq!(amendment.rewritten_shards["full"], 1);
    let difference = diff(&store, "v1", "v1.1").await.unwrap();
    assert_eq!(difference.removed, vec![hash_of(9)]);
}

#[tokio::test]
async fn a_shard_left_empty_is_dropped_and_the_rest_renumbered() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let list: String = (1..=4).map(|number| format!("{}\n", hash_of(number))).collect();
    let manifest = amend(&store, "v1", list.as_bytes(), "v2", &options()).await.unwrap();
    let full = &manifest.variants["full"];
    assert_eq!(full.shards.len(), 2);
    assert_eq!(full.rows, 8);
    assert_eq!(full.shards[0].key, shard_key("v2", "full", 0));
    assert_eq!(manifest.amendment.unwrap().rewritten_shards["full"], 1);
    assert!(verify(&store, "v2", VerifyOptions::default()).await.unwrap().ok());
}

#[tokio::test]
async fn amend_refuses_bad_lists_and_existing_or_invalid_versions() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let malformed = format!("{}\n# fine\nnot-a-hash\n", hash_of(1));
    let error = amend(&store, "v1", malformed.as_bytes(), "v2", &options())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("line 3"), "{error}");
    assert!(store.head(&manifest_key("v2")).await.unwrap().is_none());

    let error = amend(&store, "v1", b"# nothing\n\n", "v2", &options())
        .await
        .unwrap_err();
    assert!(
        matches!(error.downcast_ref::<AmendError>(), Some(AmendError::EmptyRemovalList)),
        "{error}"
    );

    let error = amend(&store, "v1", b"42\n", "../v2", &options()).await.unwrap_err();
    assert!(
        matches!(error.downcast_ref::<AmendError>(), Some(AmendError::InvalidVersion(_))),
        "{error}"
    );

    amend(&store, "v1", b"101\n", "v2", &options()).await.unwrap();
    let before = store.get(&manifest_key("v2")).await.unwrap();
    for existing in ["v2", "v1"] {
        let error = amend(&store, "v1", b"201\n", existing, &options()).await.unwrap_err();
        assert!(
            matches!(
                error.downcast_ref::<AmendError>(),
                Some(AmendError::VersionExists { .. })
            ),
            "{error}"
        );
    }
    assert_eq!(
        store.get(&manifest_key("v2")).await.unwrap(),
        before,
        "releases are immutable"
    );
}

#[tokio::test]
async fn amend_refuses_a_damaged_parent() {
    let (_directory, store) = test_store();
    let manifest = publish_v1(&store).await;
    let key = manifest.variants["full"].shards[0].key.clone();
    let mut body = store.get(&key).await.unwrap().to_vec();
    body[10] ^= 0x80;
    store.put(&key, Bytes::from(body), PutMode::Overwrite).await.unwrap();
    let error = amend(&store, "v1", b"101\n", "v2", &options()).await.unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<AmendError>(),
            Some(AmendError::ParentShardMismatch { .. })
        ),
        "{error}"
    );
    assert!(store.head(&manifest_key("v2")).await.unwrap().is_none());
}

fn json_lines(output: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(output)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn export_writes_sharegpt_with_filters() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let mut output = Vec::new();
    let report = export(
        &store,
        "v1",
        ExportOptions {
            languages: vec!["english".to_string()],
            min_turns: Some(2),
            ..ExportOptions::default()
        },
        &mut output,
    )
    .await
    .unwrap();
    // English with at least 2 exchanges: 2, 4, 11.
    assert_eq!(
        report,
        ExportReport {
            conversations: 3,
            skipped: 9
        }
    );
    let lines = json_lines(&output);
    let ids: Vec<&str> = lines.iter().map(|line| line["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [hash_of(2), hash_of(4), hash_of(11)]);
    let first = &lines[0];
    assert_eq!(first["model"], "gpt-4-0314");
    assert_eq!(first["language"], "English");
    assert_eq!(first["conversations"][0]["from"], "human");
    assert_eq!(first["conversations"][0]["value"], "question 0 of conversation 2");
    assert_eq!(first["conversations"][1]["from"], "gpt");
    assert_eq!(first["conversations"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn export_writes_openai_messages_from_a_variant() {
    let (_directory, store) = test_store();
    publish_v1(&store).await;
    let mut output = Vec::new();
    let report = export(
        &store,
        "v1",
        ExportOptions {
            variant: "nontoxic".to_string(),
            format: "openai-jsonl".parse().unwrap(),
            models: vec!["gpt-3.5-turbo".to_string()],
            toxic: Some(false),
            ..ExportOptions::default()
        },
        &mut output,
    )
    .await
    .unwrap();
    // Odd-numbered non-toxic conversations: 1, 3, 5, 9.
    assert_eq!(
        report,
        ExportReport {
            conversations: 4,
            skipped: 5
        }
    );
    let lines = json_lines(&output);
    assert_eq!(
        lines[0],
        serde_json::json!({"messages": [
            {"role": "user", "content": "question 0 of conversation 1"},
            {"role": "assistant", "content": "answer 0 of conversation 1"},
        ]})
    );
    let error = export(
        &store,
        "v1",
        ExportOptions {
            variant: "clean".to_string(),
            ..ExportOptions::default()
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("no variant \"clean\""), "{error}");
}

#[test]
fn the_operations_can_run_on_spawned_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let (_directory, store) = test_store();
    let verifying = verify(
        &store,
        "v1",
        VerifyOptions {
            pii_sample: 1,
            pii_scan: Some(&no_pii),
        },
    );
    assert_send(&verifying);
    assert_send(&diff(&store, "v1", "v2"));
    let amend_options = options();
    assert_send(&amend(&store, "v1", b"1\n", "v2", &amend_options));
    let mut output = Vec::new();
    assert_send(&export(&store, "v1", ExportOptions::default(), &mut output));
}
