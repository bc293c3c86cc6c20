//! Opening a store by URI, the one place the binaries turn `--store` into a trait object: a
//! directory, `file:///path`, or `s3://bucket/prefix`.

use std::sync::Arc;

use crate::local::LocalStore;
use crate::s3::S3Store;
use crate::uri::{parse_store_uri, StoreUri};
use crate::ObjectStore;

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
