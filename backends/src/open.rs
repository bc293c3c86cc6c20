//! Opening backends by URI, the one place the binaries turn `--store` and `--queue` flags
//! into trait objects: a directory or `s3://bucket/prefix` for the store, `memory` (the
//! embedded default) or `redis://host:port[/db]` for the queue.

use std::sync::Arc;

use shared::queue::{MemoryQueue, Queue, QueueConfig};
use shared::store::{LocalStore, ObjectStore};
use shared::uri::{parse_store_uri, StoreUri};

use crate::redis_queue::{redact_url, RedisQueue};
use crate::s3::S3Store;

/// Opens the store a URI names; an S3 store is checked (bucket exists, credentials reach it)
/// so a wrong bucket or missing credentials fail here rather than mid-run.
pub async fn open_store(uri: &str) -> Result<Arc<dyn ObjectStore>, String> {
    match parse_store_uri(uri)? {
        StoreUri::Local(path) => match LocalStore::open(&path) {
            Ok(store) => Ok(Arc::new(store)),
            Err(error) => Err(format!("cannot open store {}: {error}", path.display())),
        },
        StoreUri::S3 { bucket, prefix } => {
            let store = S3Store::connect(&bucket, &prefix).await;
            match store.check().await {
                Ok(()) => Ok(Arc::new(store)),
                Err(error) => Err(format!("cannot open store {}: {error}", store.describe())),
            }
        }
    }
}

/// Opens the queue a URI names: empty, `memory` or `embedded` for the in-process queue,
/// `redis://[user:password@]host:port[/db]` for Redis Streams.
pub async fn open_queue(uri: &str, config: QueueConfig) -> Result<Arc<dyn Queue>, String> {
    let uri = uri.trim();
    if uri.is_empty() || uri == "memory" || uri == "embedded" {
        return Ok(Arc::new(MemoryQueue::new(config)));
    }
    let location = redact_url(uri);
    if uri.starts_with("redis://") {
        return match RedisQueue::connect(uri, config).await {
            Ok(queue) => Ok(Arc::new(queue)),
            Err(error) => Err(format!("cannot open queue: {error}")),
        };
    }
    if uri.starts_with("rediss://") {
        return Err(format!(
            "cannot open queue {location}: tls (rediss://) is not supported by this build; use redis://"
        ));
    }
    Err(format!(
        "unsupported queue uri {location:?}: use memory, embedded or redis://host:port[/db]"
    ))
}
