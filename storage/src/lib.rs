//! Storage: the one place the pipeline keeps data. The [`ObjectStore`] trait has the semantics
//! of S3 (flat keys, immutable puts, conditional create/replace); its backends live here
//! together: [`local::LocalStore`] (a directory with the same key layout, the embedded default
//! and tests) and [`s3::S3Store`] (any S3-compatible endpoint), opened by URI with
//! [`open_store`].

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use tokio::io::AsyncRead;

pub mod local;
pub mod open;
pub mod s3;
pub mod uri;

pub use local::LocalStore;
pub use open::open_store;
/// One object as listed (its key, size and etag); defined with the job protocol that carries it.
pub use shared::object::ObjectMeta;

/// How a put treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    Overwrite,
    /// Fails with [`StoreError::PreconditionFailed`] if the key exists (`If-None-Match: *`).
    CreateIfAbsent,
    /// Fails with [`StoreError::PreconditionFailed`] unless the current etag matches (`If-Match`).
    ReplaceIfMatch(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object not found: {key}")]
    NotFound { key: String },
    #[error("lost the race writing {key}: precondition failed")]
    PreconditionFailed { key: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("io error on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("store backend error on {key}: {message}")]
    Backend {
        key: String,
        message: String,
        retryable: bool,
    },
}

impl StoreError {
    /// Whether retrying the same call may succeed (throttling, timeouts, transient I/O).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Backend { retryable, .. } => *retryable,
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    pub(crate) fn io(key: &str, source: std::io::Error) -> StoreError {
        if source.kind() == std::io::ErrorKind::NotFound {
            return StoreError::NotFound { key: key.to_string() };
        }
        StoreError::Io {
            key: key.to_string(),
            source,
        }
    }
}

pub type ByteStream = Box<dyn AsyncRead + Send + Unpin>;

/// Storage as the pipeline sees it. Keys are `/`-separated relative paths.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// A printable location (a path or `s3://bucket/prefix`) for messages and summaries.
    fn describe(&self) -> String;
    /// All objects whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Streams bytes `start..end` (`end` exclusive, `None` = to the end of the object).
    async fn get_range(&self, key: &str, start: u64, end: Option<u64>) -> Result<ByteStream, StoreError>;
    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> Result<ObjectMeta, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Copies an object; backends with a server-side copy override this.
    async fn copy(&self, from: &str, to: &str, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        let body = self.get(from).await?;
        self.put(to, body, mode).await
    }
}

/// Rejects keys that could escape the store root or collide with its bookkeeping.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("empty key");
    }
    if key.starts_with('/') || key.contains('\\') || key.contains('\0') {
        return invalid("keys are relative and use '/' separators");
    }
    for component in key.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return invalid("empty, '.' or '..' path component");
        }
    }
    if key.starts_with(LOCAL_INTERNAL_DIR) {
        return invalid("reserved prefix");
    }
    Ok(())
}

/// The directory of a local store that holds its temporary files and locks; no key may start with it.
pub(crate) const LOCAL_INTERNAL_DIR: &str = ".wildchat-store";

/// Reads a whole object and decodes it as JSON, naming the key on failure.
pub async fn get_json<T: serde::de::DeserializeOwned>(store: &dyn ObjectStore, key: &str) -> Result<T, StoreError> {
    let body = store.get(key).await?;
    serde_json::from_slice(&body).map_err(|error| StoreError::Backend {
        key: key.to_string(),
        message: format!("invalid json: {error}"),
        retryable: false,
    })
}

/// Writes a value as pretty JSON.
pub async fn put_json<T: Serialize + ?Sized>(
    store: &dyn ObjectStore,
    key: &str,
    value: &T,
    mode: PutMode,
) -> Result<ObjectMeta, StoreError> {
    let mut body = serde_json::to_vec_pretty(value).map_err(|error| StoreError::Backend {
        key: key.to_string(),
        message: format!("cannot encode json: {error}"),
        retryable: false,
    })?;
    body.push(b'\n');
    store.put(key, Bytes::from(body), mode).await
}
