//! Release channels under contention, on the local store and on a real S3 server (moto): eight
//! promotes of eight versions race on one channel each round; the compare-and-swap lets exactly
//! one win, the others fail with "channel moved", and the history stays consistent.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use release::channels::{promote, read_channel, ChannelError};
use storage::s3::S3Options;
use storage::{ByteStream, LocalStore, ObjectMeta, ObjectStore, PutMode, StoreError};
use test_servers::S3Server;
use tokio::sync::Barrier;

const RACERS: usize = 8;
const ROUNDS: usize = 3;

/// Holds every conditional write of a channel object until all racers of the round have read
/// the channel, so the race is real and not decided by who started first.
#[derive(Debug)]
struct Gated<S> {
    inner: S,
    gate: Barrier,
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for Gated<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.inner.head(key).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, start: u64, end: Option<u64>) -> Result<ByteStream, StoreError> {
        self.inner.get_range(key, start, end).await
    }
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        if key.starts_with("channels/") && mode != PutMode::Overwrite {
            self.gate.wait().await;
        }
        self.inner.put(key, body, mode).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

async fn race<S: ObjectStore + 'static>(inner: S) {
    // Versions exist when their manifest does; a minimal one is enough for the channel.
    for version in 0..RACERS * ROUNDS {
        inner
            .put(
                &release::manifest::manifest_key(&format!("v{version}")),
                Bytes::from_static(b"{}"),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
    }
    let store = Arc::new(Gated {
        inner,
        gate: Barrier::new(RACERS),
    });
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..RACERS)
            .map(|racer| {
                let store = store.clone();
                let version = format!("v{}", round * RACERS + racer);
                tokio::spawn(async move {
                    let outcome = promote(store.as_ref(), "stable", &version, Some("test")).await;
                    (version, outcome)
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (version, outcome) = task.await.unwrap();
            match outcome {
                Ok(_) => won.push(version),
                Err(error @ ChannelError::Moved { .. }) => {
                    let message = error.to_string();
                    assert!(message.contains("moved") && message.contains("stable"), "{message}");
                }
                Err(other) => panic!("round {round}: {version} failed with {other}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one promote wins, got {won:?}");
        winners.push(won.remove(0));
    }
    let channel = read_channel(store.as_ref(), "stable").await.unwrap().unwrap();
    assert_eq!(channel.version.as_deref(), winners.last().map(String::as_str));
    assert_eq!(channel.revision, ROUNDS as u64);
    let history: Vec<&str> = channel.history.iter().map(|event| event.version.as_str()).collect();
    assert_eq!(history, winners.iter().map(String::as_str).collect::<Vec<_>>());
    for (index, event) in channel.history.iter().enumerate() {
        assert_eq!(event.revision, index as u64 + 1);
        let previous = index
            .checked_sub(1)
            .map(|before| channel.history[before].version.as_str());
        assert_eq!(event.previous.as_deref(), previous);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_promotes_on_the_local_store_one_wins_per_round() {
    let dir = tempfile::tempdir().unwrap();
    race(LocalStore::open(dir.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_promotes_on_s3_one_wins_per_round() {
    let server = S3Server::start()
        .await
        .expect("moto_server starts (make setup installs it)");
    let store = server
        .store("releases-test", "", S3Options::default())
        .await
        .expect("an S3 store on the test server");
    race(store).await;
}
