//! Shared library of the release pipeline: the data model, raw-log parsing, canonical JSON,
//! the Python-literal parser, the job protocol, counters and the one retry policy. The object
//! store and the job queue are the `storage` and `queue` crates.

pub mod canonical_json;
pub mod counters;
pub mod fingerprint;
pub mod jobs;
pub mod lines;
pub mod moderation;
pub mod object;
pub mod pyrepr;
pub mod raw;
pub mod retry;
pub mod text_cache;
