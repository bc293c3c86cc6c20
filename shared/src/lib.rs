//! Shared library of the release pipeline: the data model, raw-log parsing, canonical JSON,
//! the job protocol, and the queue and object-store backends both binaries use.

pub mod canonical_json;
pub mod counters;
pub mod jobs;
pub mod lines;
pub mod pyrepr;
pub mod queue;
pub mod raw;
pub mod retry;
pub mod store;
pub mod uri;
