//! Opening a version variant for the explorer: its catalog and search index from the store's
//! cache when they were built from the same shards, otherwise built by one pass over the shards
//! and written back; shards copied to a local directory (by sha256) for single-row reads.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use release::manifest::{read_manifest, Manifest};
use release::ops::shard::{sha256_hex, ROWS_PER_GROUP};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storage::{ObjectStore, PutMode, StoreError};
use tokio::runtime::Handle;

use crate::catalog::{Catalog, ShardRef};
use crate::search::{IndexBuilder, SearchIndex};
use crate::{cache_prefix, source_digest, CACHE_FORMAT};

/// How to open a version.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Local directory for shard copies and the search index files.
    pub cache_dir: PathBuf,
    /// Open (and build when missing) the search index, not only the catalog.
    pub with_index: bool,
    /// Print progress to standard error while building.
    pub progress: bool,
}

/// A version variant ready to serve.
pub struct Loaded {
    pub manifest: Manifest,
    pub variant: String,
    pub catalog: Catalog,
    pub index: Option<SearchIndex>,
    store: Arc<dyn ObjectStore>,
    cache_dir: PathBuf,
    handle: Handle,
    /// Each local shard's footer with its page index, read once (a conversation page then
    /// decodes only the pages that hold its row).
    footers: std::sync::Mutex<std::collections::HashMap<u32, (PathBuf, ArrowReaderMetadata)>>,
}

/// The explorer cache's index marker, written after every index file.
#[derive(Debug, Serialize, Deserialize)]
struct IndexMarker {
    format: String,
    source: String,
    files: Vec<String>,
}

fn catalog_key(version: &str, variant: &str) -> String {
    format!("{}catalog.json.zst", cache_prefix(version, variant))
}

fn index_marker_key(version: &str, variant: &str) -> String {
    format!("{}index.json", cache_prefix(version, variant))
}

fn index_file_key(version: &str, variant: &str, file: &str) -> String {
    format!("{}index/{file}", cache_prefix(version, variant))
}

/// Opens `variant` of `version`: from the store's explorer cache when it matches the shards,
/// otherwise by building it (and caching it). Blocking: call from a blocking context.
pub fn open_version(
    store: Arc<dyn ObjectStore>,
    handle: Handle,
    version: &str,
    variant: &str,
    options: &OpenOptions,
) -> anyhow::Result<Loaded> {
    let manifest = handle.block_on(read_manifest(store.as_ref(), version))?;
    let Some(shards) = manifest.variants.get(variant) else {
        let known: Vec<&str> = manifest.variants.keys().map(String::as_str).collect();
        anyhow::bail!(
            "release {version} has no variant {variant:?} (it has {})",
            known.join(", ")
        );
    };
    let shards: Vec<ShardRef> = shards
        .shards
        .iter()
        .map(|shard| ShardRef {
            key: shard.key.clone(),
            sha256: shard.sha256.clone(),
        })
        .collect();
    let source = source_digest(shards.iter().map(|shard| shard.sha256.as_str()));
    let index_dir = options
        .cache_dir
        .join("index")
        .join(version)
        .join(variant)
        .join(&source[..16]);
    let cached_catalog = load_catalog(store.as_ref(), &handle, version, variant, &source)?;
    let cached_index = if options.with_index {
        load_index(store.as_ref(), &handle, version, variant, &source, &index_dir)?
    } else {
        None
    };
    let (catalog, index) = match (cached_catalog, cached_index, options.with_index) {
        (Some(catalog), index, false) => (catalog, index),
        (Some(catalog), Some(index), true) => (catalog, Some(index)),
        _ => {
            let building = index_dir.with_extension(format!("building-{}", std::process::id()));
            let catalog = build(
                store.as_ref(),
                &handle,
                &manifest.version,
                variant,
                &source,
                shards,
                &options.cache_dir,
                options.with_index.then_some(building.as_path()),
                options.progress,
            )?;
            save_catalog(store.as_ref(), &handle, &catalog)?;
            let index = if options.with_index {
                save_index(store.as_ref(), &handle, version, variant, &source, &building)?;
                std::fs::write(building.join(".complete"), b"")?;
                if index_dir.exists() {
                    std::fs::remove_dir_all(&index_dir)?;
                }
                std::fs::rename(&building, &index_dir)?;
                Some(SearchIndex::open(&index_dir)?)
            } else {
                None
            };
            (catalog, index)
        }
    };
    Ok(Loaded {
        manifest,
        variant: variant.to_string(),
        catalog,
        index,
        store,
        cache_dir: options.cache_dir.clone(),
        handle,
        footers: std::sync::Mutex::new(std::collections::HashMap::new()),
    })
}

fn load_catalog(
    store: &dyn ObjectStore,
    handle: &Handle,
    version: &str,
    variant: &str,
    source: &str,
) -> anyhow::Result<Option<Catalog>> {
    let key = catalog_key(version, variant);
    let body = match handle.block_on(store.get(&key)) {
        Ok(body) => body,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(anyhow::Error::new(error).context(format!("reading {key}"))),
    };
    let decoded = zstd::decode_all(body.as_ref()).map_err(|error| anyhow::anyhow!("{key}: not zstd ({error})"));
    let catalog = decoded.and_then(|json| {
        serde_json::from_slice::<Catalog>(&json).map_err(|error| anyhow::anyhow!("{key}: not a catalog ({error})"))
    });
    match catalog {
        Ok(mut catalog) if catalog.format == CACHE_FORMAT && catalog.source == source => {
            catalog.reindex();
            Ok(Some(catalog))
        }
        Ok(_) => Ok(None),
        Err(error) => {
            tracing::warn!("explorer cache {key} is unreadable and is rebuilt: {error:#}");
            Ok(None)
        }
    }
}

fn save_catalog(store: &dyn ObjectStore, handle: &Handle, catalog: &Catalog) -> anyhow::Result<()> {
    let key = catalog_key(&catalog.version, &catalog.variant);
    let body = zstd::encode_all(serde_json::to_vec(catalog)?.as_slice(), 3)?;
    put(store, handle, &key, Bytes::from(body))
}

/// Writes one cache object, naming it in the error.
fn put(store: &dyn ObjectStore, handle: &Handle, key: &str, body: Bytes) -> anyhow::Result<()> {
    handle
        .block_on(store.put(key, body, PutMode::Overwrite))
        .map_err(|error| anyhow::Error::new(error).context(format!("writing {key}")))?;
    Ok(())
}

fn load_index(
    store: &dyn ObjectStore,
    handle: &Handle,
    version: &str,
    variant: &str,
    source: &str,
    dir: &Path,
) -> anyhow::Result<Option<SearchIndex>> {
    if dir.join(".complete").exists() {
        return Ok(Some(SearchIndex::open(dir)?));
    }
    let key = index_marker_key(version, variant);
    let marker: IndexMarker = match handle.block_on(storage::get_json(store, &key)) {
        Ok(marker) => marker,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(error) => {
            tracing::warn!("explorer cache {key} is unreadable and is rebuilt: {error}");
            return Ok(None);
        }
    };
    if marker.format != CACHE_FORMAT || marker.source != source {
        return Ok(None);
    }
    let downloading = dir.with_extension(format!("downloading-{}", std::process::id()));
    std::fs::create_dir_all(&downloading)?;
    for file in &marker.files {
        if file.contains('/') || file.starts_with('.') {
            anyhow::bail!("{key} lists {file:?}, which is not an index file name");
        }
        let file_key = index_file_key(version, variant, file);
        let body = match handle.block_on(store.get(&file_key)) {
            Ok(body) => body,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("explorer cache lacks {file_key}; the index is rebuilt");
                std::fs::remove_dir_all(&downloading)?;
                return Ok(None);
            }
            Err(error) => return Err(anyhow::Error::new(error).context(format!("reading {file_key}"))),
        };
        std::fs::write(downloading.join(file), &body)?;
    }
    std::fs::write(downloading.join(".complete"), b"")?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&downloading, dir)?;
    Ok(Some(SearchIndex::open(dir)?))
}

fn save_index(
    store: &dyn ObjectStore,
    handle: &Handle,
    version: &str,
    variant: &str,
    source: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let key = index_file_key(version, variant, &name);
        let body = Bytes::from(std::fs::read(entry.path())?);
        put(store, handle, &key, body)?;
        files.push(name);
    }
    files.sort();
    let marker = IndexMarker {
        format: CACHE_FORMAT.to_string(),
        source: source.to_string(),
        files,
    };
    let key = index_marker_key(version, variant);
    handle
        .block_on(storage::put_json(store, &key, &marker, PutMode::Overwrite))
        .map_err(|error| anyhow::Error::new(error).context(format!("writing {key}")))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build(
    store: &dyn ObjectStore,
    handle: &Handle,
    version: &str,
    variant: &str,
    source: &str,
    shards: Vec<ShardRef>,
    cache_dir: &Path,
    index_dir: Option<&Path>,
    progress: bool,
) -> anyhow::Result<Catalog> {
    let started = std::time::Instant::now();
    let builder = match index_dir {
        Some(dir) => {
            if dir.exists() {
                std::fs::remove_dir_all(dir)?;
            }
            std::fs::create_dir_all(dir)?;
            Some(IndexBuilder::create(dir)?)
        }
        None => None,
    };
    let mut catalog = Catalog::new(version, variant, source, shards.clone());
    let total = shards.len();
    for (index, shard) in shards.iter().enumerate() {
        // With an index, conversations are read from its document store; without one (a
        // version opened for compare), from a local copy of the shard.
        let body = fetch_shard(store, handle, shard)?;
        if index_dir.is_none() {
            save_local_shard(cache_dir, shard, &body)?;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(body)?
            .with_batch_size(ROWS_PER_GROUP)
            .build()?;
        let mut first_row = 0u32;
        for batch in reader {
            let batch = batch.map_err(|error| anyhow::anyhow!("shard {}: {error}", shard.key))?;
            let rows = u32::try_from(batch.num_rows())?;
            catalog
                .add_batch(
                    u32::try_from(index)?,
                    first_row,
                    &batch,
                    &mut |ordinal, texts, row| match &builder {
                        Some(builder) => builder.add(ordinal, texts, row),
                        None => Ok(()),
                    },
                )
                .map_err(|error| error.context(format!("shard {}", shard.key)))?;
            first_row += rows;
        }
        if progress {
            eprintln!(
                "explorer: {version}/{variant}: read shard {} of {total} ({} conversations, {:.1} s)",
                index + 1,
                catalog.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(builder) = builder {
        if progress {
            eprintln!("explorer: {version}/{variant}: committing the search index");
        }
        builder.finish()?;
    }
    if progress {
        eprintln!(
            "explorer: {version}/{variant}: {} conversations catalogued in {:.1} s",
            catalog.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(catalog)
}

fn local_shard_path(cache_dir: &Path, shard: &ShardRef) -> PathBuf {
    cache_dir.join("shards").join(format!("{}.parquet", shard.sha256))
}

/// A shard's bytes from the store, checked against the sha256 its manifest lists.
fn fetch_shard(store: &dyn ObjectStore, handle: &Handle, shard: &ShardRef) -> anyhow::Result<Bytes> {
    let body = handle
        .block_on(store.get(&shard.key))
        .map_err(|error| anyhow::Error::new(error).context(format!("reading shard {}", shard.key)))?;
    let digest = sha256_hex(&body);
    if digest != shard.sha256 {
        anyhow::bail!(
            "shard {} has sha256 {digest} but its manifest lists {}: run `release verify`",
            shard.key,
            shard.sha256
        );
    }
    Ok(body)
}

fn save_local_shard(cache_dir: &Path, shard: &ShardRef, body: &[u8]) -> anyhow::Result<PathBuf> {
    let path = local_shard_path(cache_dir, shard);
    if path.exists() {
        return Ok(path);
    }
    let dir = cache_dir.join("shards");
    std::fs::create_dir_all(&dir)?;
    let partial = dir.join(format!("{}.parquet.{}", shard.sha256, std::process::id()));
    std::fs::write(&partial, body)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// The local copy of a shard (downloaded and checked against its sha256 the first time).
fn local_shard(
    store: &dyn ObjectStore,
    handle: &Handle,
    cache_dir: &Path,
    shard: &ShardRef,
) -> anyhow::Result<PathBuf> {
    let path = local_shard_path(cache_dir, shard);
    if path.exists() {
        return Ok(path);
    }
    let body = fetch_shard(store, handle, shard)?;
    save_local_shard(cache_dir, shard, &body)
}

impl Loaded {
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// The whole row of a conversation as JSON: from the index's document store, or without an
    /// index from the local shard copy (only the pages holding the row are decoded). Blocking.
    pub fn conversation(&self, ordinal: u32) -> anyhow::Result<Value> {
        let entry = self
            .catalog
            .entries
            .get(ordinal as usize)
            .ok_or_else(|| anyhow::anyhow!("no conversation {ordinal}"))?;
        if let Some(index) = &self.index {
            return index.row(ordinal);
        }
        let (path, metadata) = self.footer(entry.shard)?;
        let shard = &self.catalog.shards[entry.shard as usize];
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(&path)?, metadata);
        // The row group that holds the row, and the row's place in it.
        let mut skip = entry.row as usize;
        let mut group = None;
        for (index, metadata) in builder.metadata().row_groups().iter().enumerate() {
            let rows = metadata.num_rows() as usize;
            if skip < rows {
                group = Some(index);
                break;
            }
            skip -= rows;
        }
        let group = group.ok_or_else(|| anyhow::anyhow!("shard {} has no row {}", shard.key, entry.row))?;
        let reader = builder
            .with_row_groups(vec![group])
            .with_row_selection(RowSelection::from(vec![
                RowSelector::skip(skip),
                RowSelector::select(1),
            ]))
            .with_batch_size(1)
            .build()?;
        for batch in reader {
            let batch = batch?;
            if batch.num_rows() == 1 {
                return Ok(crate::rows::row_json(&batch, 0));
            }
        }
        anyhow::bail!("shard {} has no row {}", shard.key, entry.row)
    }

    /// A shard's local path and footer (with the page index), read once.
    fn footer(&self, shard: u32) -> anyhow::Result<(PathBuf, ArrowReaderMetadata)> {
        if let Some(found) = self.footers.lock().expect("footer cache").get(&shard) {
            return Ok(found.clone());
        }
        let entry = self
            .catalog
            .shards
            .get(shard as usize)
            .ok_or_else(|| anyhow::anyhow!("no shard {shard}"))?;
        let path = local_shard(self.store.as_ref(), &self.handle, &self.cache_dir, entry)?;
        let options = ArrowReaderOptions::new().with_page_index(true);
        let metadata = ArrowReaderMetadata::load(&File::open(&path)?, options)?;
        self.footers
            .lock()
            .expect("footer cache")
            .insert(shard, (path.clone(), metadata.clone()));
        Ok((path, metadata))
    }

    /// A chart of the version's card (`languages.svg`...), as the release holds it.
    pub async fn chart(&self, name: &str) -> Option<Bytes> {
        if !matches!(name, "languages.svg" | "countries.svg" | "turns.svg") {
            return None;
        }
        let key = format!("{}charts/{name}", release::manifest::release_prefix(self.version()));
        self.store.get(&key).await.ok()
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
}
