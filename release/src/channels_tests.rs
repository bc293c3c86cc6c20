use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use storage::LocalStore;
use tokio::sync::Barrier;

use super::*;
use crate::manifest::{Manifest, MANIFEST_FORMAT};

fn open_store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    (dir, store)
}

async fn make_version(store: &dyn ObjectStore, version: &str) {
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: version.to_string(),
        parent: None,
        run_id: format!("run-{version}"),
        created_at: "2026-01-01T00:00:00Z".to_string(),
        code_version: "test".to_string(),
        schema: "test".to_string(),
        config: Value::Null,
        config_sha256: String::new(),
        inputs: Vec::new(),
        inputs_sha256: String::new(),
        variants: BTreeMap::new(),
        counters: Value::Null,
        work: Value::Null,
        quarantine: Vec::new(),
        statistics: BTreeMap::new(),
        amendment: None,
        fingerprint: None,
    };
    put_json(store, &manifest_key(version), &manifest, PutMode::CreateIfAbsent)
        .await
        .unwrap();
}

fn versions_of(channel: &Channel) -> Vec<(u64, &str, ChannelAction, Option<&str>)> {
    channel
        .history
        .iter()
        .map(|event| {
            (
                event.revision,
                event.version.as_str(),
                event.action,
                event.previous.as_deref(),
            )
        })
        .collect()
}

#[tokio::test]
async fn promote_creates_the_channel_and_records_each_move() {
    let (_dir, store) = open_store();
    make_version(&store, "v1").await;
    make_version(&store, "v2").await;
    assert!(read_channel(&store, "stable").await.unwrap().is_none());

    let first = promote(&store, "stable", "v1", Some("alice")).await.unwrap();
    assert_eq!(first.version.as_deref(), Some("v1"));
    assert_eq!(first.revision, 1);
    let second = promote(&store, "stable", "v2", None).await.unwrap();
    assert_eq!(second.revision, 2);
    assert_eq!(
        versions_of(&second),
        vec![
            (1, "v1", ChannelAction::Promote, None),
            (2, "v2", ChannelAction::Promote, Some("v1")),
        ]
    );
    assert_eq!(second.history[0].by.as_deref(), Some("alice"));
    assert_eq!(read_channel(&store, "stable").await.unwrap(), Some(second.clone()));

    // The stored format other tools (and people) read.
    let stored: Value = serde_json::from_slice(&store.get("channels/stable.json").await.unwrap()).unwrap();
    assert_eq!(stored["format"], CHANNEL_FORMAT);
    assert_eq!(stored["channel"], "stable");
    assert_eq!(stored["version"], "v2");
    assert_eq!(stored["revision"], 2);
    assert!(chrono::DateTime::parse_from_rfc3339(stored["updated_at"].as_str().unwrap()).is_ok());
    assert_eq!(stored["history"][1]["action"], "promote");
    assert_eq!(stored["history"][1]["previous"], "v1");
    assert_eq!(stored["history"][0]["previous"], Value::Null);
    assert_eq!(stored["history"][0]["by"], "alice");
}

#[tokio::test]
async fn rollback_walks_back_through_promotions() {
    let (_dir, store) = open_store();
    for version in ["v1", "v2", "v3"] {
        make_version(&store, version).await;
        promote(&store, "stable", version, None).await.unwrap();
    }
    let back_once = rollback(&store, "stable", Some("bob")).await.unwrap();
    assert_eq!(back_once.version.as_deref(), Some("v2"));
    let back_twice = rollback(&store, "stable", None).await.unwrap();
    assert_eq!(back_twice.version.as_deref(), Some("v1"));
    let exhausted = rollback(&store, "stable", None).await.unwrap_err();
    assert!(
        matches!(exhausted, ChannelError::NothingToRollBack { ref version, .. } if version.as_deref() == Some("v1"))
    );
    assert!(exhausted.to_string().contains("nothing to roll back"), "{exhausted}");

    // A promotion after rollbacks stacks on the version it replaced.
    let again = promote(&store, "stable", "v3", None).await.unwrap();
    assert_eq!(again.rollback_target(), Some("v1"));
    let undone = rollback(&store, "stable", None).await.unwrap();
    assert_eq!(undone.version.as_deref(), Some("v1"));
    assert_eq!(
        versions_of(&undone),
        vec![
            (1, "v1", ChannelAction::Promote, None),
            (2, "v2", ChannelAction::Promote, Some("v1")),
            (3, "v3", ChannelAction::Promote, Some("v2")),
            (4, "v2", ChannelAction::Rollback, Some("v3")),
            (5, "v1", ChannelAction::Rollback, Some("v2")),
            (6, "v3", ChannelAction::Promote, Some("v1")),
            (7, "v1", ChannelAction::Rollback, Some("v3")),
        ]
    );
    assert_eq!(undone.history[3].by.as_deref(), Some("bob"));
    assert_eq!(undone.check("stable"), Ok(()));
    assert_eq!(read_channel(&store, "stable").await.unwrap(), Some(undone));
}

#[tokio::test]
async fn unknown_version_is_refused_and_changes_nothing() {
    let (_dir, store) = open_store();
    let error = promote(&store, "stable", "v9", None).await.unwrap_err();
    assert!(matches!(error, ChannelError::UnknownVersion { ref version, .. } if version == "v9"));
    let message = error.to_string();
    assert!(message.contains("no release v9"), "{message}");
    assert!(message.contains(&store.describe()), "{message}");
    assert!(!error.is_retryable());
    assert!(read_channel(&store, "stable").await.unwrap().is_none());

    make_version(&store, "v1").await;
    promote(&store, "stable", "v1", None).await.unwrap();
    assert!(promote(&store, "stable", "v9", None).await.is_err());
    assert_eq!(read_channel(&store, "stable").await.unwrap().unwrap().revision, 1);
}

#[tokio::test]
async fn bad_channel_and_version_names_are_refused() {
    let (_dir, store) = open_store();
    make_version(&store, "v1").await;
    for name in ["", ".hidden", "a/b", "../escape", "with space"] {
        let error = promote(&store, name, "v1", None).await.unwrap_err();
        assert!(matches!(error, ChannelError::InvalidName { .. }), "{name:?}: {error}");
        assert!(error.to_string().contains("invalid channel"), "{error}");
        assert!(matches!(
            rollback(&store, name, None).await,
            Err(ChannelError::InvalidName { .. })
        ));
        assert!(read_channel(&store, name).await.is_err());
    }
    let error = promote(&store, "stable", "../v1", None).await.unwrap_err();
    assert!(matches!(error, ChannelError::InvalidVersion { .. }), "{error}");
    assert!(store.list(CHANNELS_PREFIX).await.unwrap().is_empty());
}

#[tokio::test]
async fn rollback_without_history_is_refused() {
    let (_dir, store) = open_store();
    let missing = rollback(&store, "stable", None).await.unwrap_err();
    assert!(matches!(missing, ChannelError::UnknownChannel { .. }), "{missing}");
    assert!(missing.to_string().contains("no channel stable"), "{missing}");

    make_version(&store, "v1").await;
    promote(&store, "stable", "v1", None).await.unwrap();
    let single = rollback(&store, "stable", None).await.unwrap_err();
    assert!(matches!(single, ChannelError::NothingToRollBack { .. }), "{single}");
    assert_eq!(read_channel(&store, "stable").await.unwrap().unwrap().revision, 1);
}

#[tokio::test]
async fn promoting_the_current_version_changes_nothing() {
    let (_dir, store) = open_store();
    make_version(&store, "v1").await;
    promote(&store, "stable", "v1", None).await.unwrap();
    let error = promote(&store, "stable", "v1", None).await.unwrap_err();
    assert!(matches!(error, ChannelError::AlreadyCurrent { .. }), "{error}");
    assert!(error.to_string().contains("already points to v1"), "{error}");
    assert_eq!(read_channel(&store, "stable").await.unwrap().unwrap().revision, 1);
}

#[tokio::test]
async fn corrupt_channels_are_reported_not_overwritten() {
    let (_dir, store) = open_store();
    make_version(&store, "v1").await;
    make_version(&store, "v2").await;
    promote(&store, "stable", "v1", None).await.unwrap();
    let mut broken = promote(&store, "stable", "v2", None).await.unwrap();
    broken.history[1].previous = Some("v0".to_string());
    put_json(&store, &channel_key("stable"), &broken, PutMode::Overwrite)
        .await
        .unwrap();
    let error = promote(&store, "stable", "v1", None).await.unwrap_err();
    assert!(matches!(error, ChannelError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("channels/stable.json"), "{error}");
    let read_error = read_channel(&store, "stable").await.unwrap_err();
    assert!(format!("{read_error:#}").contains("previous"), "{read_error:#}");

    store
        .put(
            &channel_key("stable"),
            Bytes::from_static(b"{not json"),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    assert!(matches!(
        rollback(&store, "stable", None).await,
        Err(ChannelError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn list_channels_reads_every_channel_in_name_order() {
    let (_dir, store) = open_store();
    make_version(&store, "v1").await;
    make_version(&store, "v2").await;
    promote(&store, "stable", "v1", None).await.unwrap();
    promote(&store, "latest", "v2", None).await.unwrap();
    store
        .put("channels/notes.txt", Bytes::from_static(b"x"), PutMode::Overwrite)
        .await
        .unwrap();
    let channels = list_channels(&store).await.unwrap();
    let summary: Vec<(&str, Option<&str>)> = channels
        .iter()
        .map(|channel| (channel.channel.as_str(), channel.version.as_deref()))
        .collect();
    assert_eq!(summary, vec![("latest", Some("v2")), ("stable", Some("v1"))]);
}

#[test]
fn check_rejects_broken_chains() {
    let start = Channel::empty("stable");
    let one = start.advanced(ChannelAction::Promote, "v1", None, "2026-01-01T00:00:00Z");
    let two = one.advanced(ChannelAction::Promote, "v2", None, "2026-01-02T00:00:00Z");
    assert_eq!(two.check("stable"), Ok(()));
    assert!(two.check("latest").is_err());

    let mut skipped_revision = two.clone();
    skipped_revision.history[1].revision = 3;
    assert!(skipped_revision.check("stable").unwrap_err().contains("revision 3"));
    let mut stale_head = two.clone();
    stale_head.version = Some("v1".to_string());
    assert!(stale_head.check("stable").is_err());
    let mut bad_rollback = two.advanced(ChannelAction::Rollback, "v1", None, "2026-01-03T00:00:00Z");
    assert_eq!(bad_rollback.check("stable"), Ok(()));
    bad_rollback.history[2].version = "v7".to_string();
    bad_rollback.version = Some("v7".to_string());
    assert!(bad_rollback.check("stable").unwrap_err().contains("rolls back to v7"));
}

#[test]
fn moved_says_what_happened_and_what_to_do() {
    let error = ChannelError::Moved {
        channel: "stable".to_string(),
        expected_revision: 4,
        action: ChannelAction::Promote,
        version: "v5".to_string(),
        store: "s3://bucket/prefix".to_string(),
    };
    let message = error.to_string();
    for expected in [
        "channel stable",
        "s3://bucket/prefix",
        "moved",
        "promote of v5",
        "revision 4",
        "retry",
    ] {
        assert!(message.contains(expected), "{expected:?} missing from {message}");
    }
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_move_prepared_before_another_write_is_refused_as_moved() {
    let (_dir, store) = open_store();
    for version in ["v1", "v2", "v3"] {
        make_version(&store, version).await;
    }
    // Creating: both saw no channel; the second create loses.
    let late_create = prepare_promote(&store, "stable", "v2", None).await.unwrap();
    assert_eq!(late_create.current().revision, 0);
    promote(&store, "stable", "v1", None).await.unwrap();
    let error = late_create.commit(&store).await.unwrap_err();
    assert!(
        matches!(error, ChannelError::Moved { expected_revision: 0, ref version, .. } if version == "v2"),
        "{error}"
    );

    // Replacing: a promote and a rollback prepared on revision 2 lose to a promote.
    promote(&store, "stable", "v2", None).await.unwrap();
    let stale_promote = prepare_promote(&store, "stable", "v3", None).await.unwrap();
    let stale_rollback = prepare_rollback(&store, "stable", None).await.unwrap();
    assert_eq!(stale_rollback.next().version.as_deref(), Some("v1"));
    promote(&store, "stable", "v1", Some("carol")).await.unwrap();
    for stale in [stale_promote, stale_rollback] {
        let action = stale.action();
        let error = stale.commit(&store).await.unwrap_err();
        assert!(
            matches!(error, ChannelError::Moved { expected_revision: 2, action: moved_action, .. } if moved_action == action),
            "{error}"
        );
        assert!(error.to_string().contains("moved"), "{error}");
    }
    let channel = read_channel(&store, "stable").await.unwrap().unwrap();
    assert_eq!(channel.revision, 3);
    assert_eq!(channel.history[2].by.as_deref(), Some("carol"));
}

const WRITERS: usize = 8;
const ROUNDS: u64 = 12;

fn round_version(round: u64, writer: usize) -> String {
    format!("r{round}-w{writer}")
}

async fn make_round_versions(store: &dyn ObjectStore) {
    for round in 0..ROUNDS {
        for writer in 0..WRITERS {
            make_version(store, &round_version(round, writer)).await;
        }
    }
}

/// The acceptance test: each round, eight promotes of eight different versions on one channel
/// have all read it and are released together; exactly one wins, the other seven are told the
/// channel moved, and after all rounds the history has one consistent entry per round.
/// Run against any store (the lead repeats it on S3).
async fn concurrent_promotes_have_one_winner_per_round(store: Arc<dyn ObjectStore>) {
    make_round_versions(store.as_ref()).await;
    let start = Arc::new(Barrier::new(WRITERS));
    let mut winners_by_round = Vec::new();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let by = format!("writer-{writer}");
                let prepared =
                    prepare_promote(store.as_ref(), "stable", &round_version(round, writer), Some(&by)).await;
                // Every writer has read the channel before any of them writes.
                start.wait().await;
                prepared?.commit(store.as_ref()).await
            }));
        }
        let mut winners = Vec::new();
        let mut moved = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(channel) => winners.push(channel),
                Err(ChannelError::Moved {
                    channel,
                    expected_revision,
                    action,
                    ..
                }) => {
                    assert_eq!(channel, "stable");
                    assert_eq!(expected_revision, round, "losers read the round's starting revision");
                    assert_eq!(action, ChannelAction::Promote);
                    moved += 1;
                }
                Err(other) => panic!("round {round}: unexpected error {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one promote wins");
        assert_eq!(
            moved,
            WRITERS - 1,
            "round {round}: the others are told the channel moved"
        );
        let winner = winners.remove(0);
        assert_eq!(winner.revision, round + 1);
        assert_eq!(
            read_channel(store.as_ref(), "stable").await.unwrap(),
            Some(winner.clone())
        );
        winners_by_round.push(winner.version.clone().unwrap());
    }
    let channel = read_channel(store.as_ref(), "stable").await.unwrap().unwrap();
    assert_eq!(channel.revision, ROUNDS);
    assert_eq!(channel.history.len() as u64, ROUNDS);
    assert_eq!(channel.check("stable"), Ok(()));
    let mut previous: Option<String> = None;
    for (index, event) in channel.history.iter().enumerate() {
        assert_eq!(event.revision, index as u64 + 1);
        assert_eq!(event.action, ChannelAction::Promote);
        assert_eq!(event.previous, previous);
        assert_eq!(event.version, winners_by_round[index]);
        previous = Some(event.version.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn acceptance_concurrent_promotes_have_one_winner_per_round() {
    let (_dir, store) = open_store();
    concurrent_promotes_have_one_winner_per_round(Arc::new(store)).await;
}

/// Plain `promote` calls started together: a call that reads after another's write is simply
/// the next promotion, so a round may have more than one winner, but no write is ever lost:
/// every success is in the history exactly once, at the revision it returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_promotes_never_lose_a_write() {
    let (_dir, store) = open_store();
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    make_round_versions(store.as_ref()).await;
    let start = Arc::new(Barrier::new(WRITERS));
    let mut successes = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                promote(store.as_ref(), "stable", &round_version(round, writer), None).await
            }));
        }
        let mut round_successes = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(channel) => {
                    round_successes += 1;
                    let previous = successes.insert(channel.revision, channel.version.clone().unwrap());
                    assert!(previous.is_none(), "revision {} won twice", channel.revision);
                }
                Err(ChannelError::Moved { .. }) => {}
                Err(other) => panic!("round {round}: unexpected error {other}"),
            }
        }
        assert!(round_successes >= 1, "round {round}: someone wins");
    }
    let channel = read_channel(store.as_ref(), "stable").await.unwrap().unwrap();
    assert_eq!(channel.check("stable"), Ok(()));
    let recorded: BTreeMap<u64, String> = channel
        .history
        .iter()
        .map(|event| (event.revision, event.version.clone()))
        .collect();
    assert_eq!(recorded, successes);
}
