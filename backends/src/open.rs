//! Opening backends by URI, the one place the binaries turn `--store` and `--queue` flags
//! into trait objects: a directory or `s3://bucket/prefix` for the store, `memory` (the
//! embedded default), `redis://host:port[/db]` or `rediss://` (TLS) for the queue.

use std::sync::Arc;

use shared::queue::{MemoryQueue, Queue, QueueConfig};
use shared::store::{LocalStore, ObjectStore};
use shared::uri::{parse_store_uri, StoreUri};

use crate::redis_queue::{redact_url, RedisQueue, RedisQueueOptions};

/// A PEM file with the certificate authority of a `rediss://` server that the system does not
/// trust already (a private CA).
pub const REDIS_CA_ENV: &str = "WILDCHAT__REDIS_CA_FILE";
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
/// `redis://[user:password@]host:port[/db]` for Redis Streams, `rediss://` for Redis Streams
/// over TLS (the server certificate is checked against the system's roots, or against the CA
/// in `WILDCHAT__REDIS_CA_FILE`). A password belongs in the URL, which comes from the
/// environment (`WILDCHAT__QUEUE`) or a config file, and is never logged.
pub async fn open_queue(uri: &str, config: QueueConfig) -> Result<Arc<dyn Queue>, String> {
    let uri = uri.trim();
    if uri.is_empty() || uri == "memory" || uri == "embedded" {
        return Ok(Arc::new(MemoryQueue::new(config)));
    }
    let location = redact_url(uri);
    if uri.starts_with("redis://") || uri.starts_with("rediss://") {
        let options = RedisQueueOptions {
            tls_ca_file: std::env::var_os(REDIS_CA_ENV)
                .filter(|path| !path.is_empty())
                .map(std::path::PathBuf::from),
            ..RedisQueueOptions::default()
        };
        return match RedisQueue::connect_with(uri, config, options).await {
            Ok(queue) => Ok(Arc::new(queue)),
            Err(error) => Err(format!("cannot open queue: {error}")),
        };
    }
    Err(format!(
        "unsupported queue uri {location:?}: use memory, embedded, redis://host:port[/db] or rediss://host:port[/db]"
    ))
}
