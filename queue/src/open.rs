//! Opening a queue by URI, the one place the binaries turn `--queue` into a trait object:
//! `memory` (the embedded default), `redis://host:port[/db]` or `rediss://` (TLS).

use std::sync::Arc;

use crate::memory::MemoryQueue;
use crate::redis_queue::{redact_url, RedisQueue, RedisQueueOptions};
use crate::{Queue, QueueConfig};

/// A PEM file with the certificate authority of a `rediss://` server that the system does not
/// trust already (a private CA).
pub const REDIS_CA_ENV: &str = "WILDCHAT__REDIS_CA_FILE";
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
