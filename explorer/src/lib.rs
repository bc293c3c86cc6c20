//! The release explorer (`release serve`): a read-only web server over one variant of a
//! version, read through the store trait, so a local directory and S3 both work.
//!
//! - [`catalog`]: a compact entry per conversation, for filters, sorting and compare;
//! - [`search`]: the full-text index of the turns (tantivy);
//! - both are built by one pass over the shards the first time a version is served and cached
//!   in the store under `cache/explorer/<version>/<variant>/`, next to nothing of the release
//!   itself (releases stay immutable); a cache built from other shards is rebuilt;
//! - conversation pages read the row from the index's document store (a version opened for
//!   compare only, without an index, from local shard copies);
//! - [`server`] and [`pages`]: the HTTP routes and the HTML (every value escaped).

pub mod catalog;
mod html;
mod pages;
pub mod rows;
pub mod search;
mod server;
mod store_cache;

pub use server::{serve, ServeOptions};
pub use store_cache::{open_version, Loaded, OpenOptions};

/// The format of the cached catalog and index; a cache of another format is rebuilt.
pub const CACHE_FORMAT: &str = "wildchat-explorer/2";

/// Store prefix of a version variant's explorer cache.
pub fn cache_prefix(version: &str, variant: &str) -> String {
    format!("cache/explorer/{version}/{variant}/")
}

/// What a cache was built from: the cache format and the sha256 of every shard, in order.
pub fn source_digest<'a>(shard_sha256s: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(CACHE_FORMAT.as_bytes());
    for sha256 in shard_sha256s {
        hasher.update(b"\n");
        hasher.update(sha256.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests;
