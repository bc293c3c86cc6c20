//! An object as a store lists it: the data the job protocol carries to name a raw input.

use serde::{Deserialize, Serialize};

/// One object as listed: its key, size and an etag that changes on every write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub etag: String,
}
