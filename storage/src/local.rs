//! The local-directory backend of [`crate::ObjectStore`], with the same key layout as the bucket.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{validate_key, ByteStream, ObjectMeta, ObjectStore, PutMode, StoreError, LOCAL_INTERNAL_DIR};

/// A directory laid out like the bucket. Writes go to a temporary file first and are
/// published with a rename (or a hard link for create-if-absent, which fails atomically when
/// the key exists), so readers never see partial objects and concurrent writers, in this
/// process or another, cannot both win a conditional write.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    temp_counter: Arc<AtomicU64>,
}

impl LocalStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StoreError> {
        let root: PathBuf = root.into();
        let internal = root.join(LOCAL_INTERNAL_DIR);
        for dir in [internal.join("tmp"), internal.join("locks")] {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::io(&dir.display().to_string(), source))?;
        }
        Ok(LocalStore {
            root,
            temp_counter: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn temp_path(&self) -> PathBuf {
        let sequence = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{}-{}-{}", std::process::id(), sequence, rand::random::<u64>());
        self.root.join(LOCAL_INTERNAL_DIR).join("tmp").join(unique)
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        self.root
            .join(LOCAL_INTERNAL_DIR)
            .join("locks")
            .join(hex::encode(&digest[..12]))
    }

    fn put_blocking(&self, key: &str, body: &[u8], mode: &PutMode) -> Result<ObjectMeta, StoreError> {
        let final_path = self.path_of(key)?;
        if let Some(parent) = final_path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::io(key, source))?;
        }
        let temp_path = self.temp_path();
        let write_result = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp_path)?;
            file.write_all(body)?;
            file.sync_data()?;
            Ok(())
        })();
        if let Err(source) = write_result {
            let _ = std::fs::remove_file(&temp_path);
            return Err(StoreError::io(key, source));
        }
        let publish_result = self.publish(key, &temp_path, &final_path, mode);
        let _ = std::fs::remove_file(&temp_path);
        publish_result?;
        local_meta(key, &final_path)
    }

    fn publish(&self, key: &str, temp_path: &Path, final_path: &Path, mode: &PutMode) -> Result<(), StoreError> {
        // Conditional writes serialise on a per-key lock file so that check-then-publish is
        // atomic against other conditional writers in any process.
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path(key))
            .map_err(|source| StoreError::io(key, source))?;
        lock_file.lock().map_err(|source| StoreError::io(key, source))?;
        let result = match mode {
            PutMode::Overwrite => std::fs::rename(temp_path, final_path).map_err(|source| StoreError::io(key, source)),
            PutMode::CreateIfAbsent => match std::fs::hard_link(temp_path, final_path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(StoreError::PreconditionFailed { key: key.to_string() })
                }
                Err(source) => Err(StoreError::io(key, source)),
            },
            PutMode::ReplaceIfMatch(expected_etag) => match local_meta(key, final_path) {
                Ok(current) if &current.etag == expected_etag => {
                    std::fs::rename(temp_path, final_path).map_err(|source| StoreError::io(key, source))
                }
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    Err(StoreError::PreconditionFailed { key: key.to_string() })
                }
                Err(other) => Err(other),
            },
        };
        let _ = lock_file.unlock();
        result
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // Walk only the deepest directory the prefix names, then filter by the full prefix.
        let directory_part = match prefix.rfind('/') {
            Some(index) => &prefix[..index],
            None => "",
        };
        let start = if directory_part.is_empty() {
            self.root.clone()
        } else {
            validate_key(directory_part)?;
            self.root.join(directory_part)
        };
        let mut found = Vec::new();
        let mut pending = vec![start];
        while let Some(directory) = pending.pop() {
            let entries = match std::fs::read_dir(&directory) {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(source) => return Err(StoreError::io(prefix, source)),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::io(prefix, source))?;
                let path = entry.path();
                let Ok(relative) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let Some(relative_key) = relative.to_str().map(|text| text.replace('\\', "/")) else {
                    continue;
                };
                if relative_key.starts_with(LOCAL_INTERNAL_DIR) {
                    continue;
                }
                let file_type = entry
                    .file_type()
                    .map_err(|source| StoreError::io(&relative_key, source))?;
                if file_type.is_dir() {
                    let as_dir = format!("{relative_key}/");
                    if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                        pending.push(path);
                    }
                } else if file_type.is_file() && relative_key.starts_with(prefix) {
                    match local_meta(&relative_key, &path) {
                        Ok(meta) => found.push(meta),
                        Err(StoreError::NotFound { .. }) => continue,
                        Err(other) => return Err(other),
                    }
                }
            }
        }
        found.sort_by(|left, right| left.key.cmp(&right.key));
        Ok(found)
    }
}

fn local_meta(key: &str, path: &Path) -> Result<ObjectMeta, StoreError> {
    let metadata = std::fs::metadata(path).map_err(|source| StoreError::io(key, source))?;
    if !metadata.is_file() {
        return Err(StoreError::NotFound { key: key.to_string() });
    }
    // Every write publishes a fresh inode, so inode + size + mtime identifies a version.
    let modified_nanos = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|duration| duration.as_nanos())
        .unwrap_or(0);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0u64;
    Ok(ObjectMeta {
        key: key.to_string(),
        size: metadata.len(),
        etag: format!("{inode:x}-{:x}-{modified_nanos:x}", metadata.len()),
    })
}

async fn blocking<T: Send + 'static>(
    key: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join_error) => Err(StoreError::Backend {
            key: key.to_string(),
            message: format!("blocking store task failed: {join_error}"),
            retryable: false,
        }),
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let store = self.clone();
        let prefix_owned = prefix.to_string();
        blocking(prefix, move || store.list_blocking(&prefix_owned)).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path_of(key)?;
        match local_meta(key, &path) {
            Ok(meta) => Ok(Some(meta)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        if path.is_dir() {
            return Err(StoreError::NotFound { key: key.to_string() });
        }
        let body = tokio::fs::read(&path)
            .await
            .map_err(|source| StoreError::io(key, source))?;
        Ok(Bytes::from(body))
    }

    async fn get_range(&self, key: &str, start: u64, end: Option<u64>) -> Result<ByteStream, StoreError> {
        let path = self.path_of(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| StoreError::io(key, source))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|source| StoreError::io(key, source))?;
        match end {
            Some(end) => Ok(Box::new(file.take(end.saturating_sub(start)))),
            None => Ok(Box::new(file)),
        }
    }

    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        validate_key(key)?;
        let store = self.clone();
        let key_owned = key.to_string();
        blocking(key, move || store.put_blocking(&key_owned, &body, &mode)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::io(key, source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        store
            .put("raw/b.jsonl", Bytes::from_static(b"0123456789"), PutMode::Overwrite)
            .await
            .unwrap();
        store
            .put("raw/a/x.jsonl", Bytes::from_static(b"x"), PutMode::Overwrite)
            .await
            .unwrap();
        store
            .put("rawer/c", Bytes::from_static(b"c"), PutMode::Overwrite)
            .await
            .unwrap();
        let keys: Vec<String> = store
            .list("raw/")
            .await
            .unwrap()
            .into_iter()
            .map(|meta| meta.key)
            .collect();
        assert_eq!(keys, vec!["raw/a/x.jsonl", "raw/b.jsonl"]);
        assert_eq!(store.list("raw").await.unwrap().len(), 3);
        let mut reader = store.get_range("raw/b.jsonl", 3, Some(6)).await.unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "345");
        assert!(matches!(
            store.get("raw/missing").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(store.put("../escape", Bytes::new(), PutMode::Overwrite).await.is_err());
    }

    #[tokio::test]
    async fn conditional_writes_follow_s3_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let first = store
            .put("channels/main.json", Bytes::from_static(b"v1"), PutMode::CreateIfAbsent)
            .await
            .unwrap();
        let again = store
            .put("channels/main.json", Bytes::from_static(b"v2"), PutMode::CreateIfAbsent)
            .await;
        assert!(matches!(again, Err(StoreError::PreconditionFailed { .. })));
        let second = store
            .put(
                "channels/main.json",
                Bytes::from_static(b"v2"),
                PutMode::ReplaceIfMatch(first.etag.clone()),
            )
            .await
            .unwrap();
        assert_ne!(first.etag, second.etag);
        let stale = store
            .put(
                "channels/main.json",
                Bytes::from_static(b"v3"),
                PutMode::ReplaceIfMatch(first.etag),
            )
            .await;
        assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })));
        assert_eq!(&store.get("channels/main.json").await.unwrap()[..], b"v2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_conditional_writers_have_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::open(dir.path()).unwrap());
        let base = store
            .put("pointer", Bytes::from_static(b"base"), PutMode::CreateIfAbsent)
            .await
            .unwrap();
        for round in 0..20 {
            let current = store.head("pointer").await.unwrap().unwrap();
            let mut tasks = Vec::new();
            for writer in 0..8 {
                let replacing_store = store.clone();
                let etag = current.etag.clone();
                tasks.push(tokio::spawn(async move {
                    let body = Bytes::from(format!("round {round} writer {writer}"));
                    replacing_store
                        .put("pointer", body, PutMode::ReplaceIfMatch(etag))
                        .await
                        .is_ok()
                }));
                let creating_store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let key = format!("created/{round}");
                    let body = Bytes::from(format!("writer {writer}"));
                    creating_store.put(&key, body, PutMode::CreateIfAbsent).await.is_ok()
                }));
            }
            let mut winners = 0;
            for task in tasks {
                if task.await.unwrap() {
                    winners += 1;
                }
            }
            assert_eq!(winners, 2, "one replace and one create must win in round {round}");
        }
        assert_ne!(store.head("pointer").await.unwrap().unwrap().etag, base.etag);
    }
}
