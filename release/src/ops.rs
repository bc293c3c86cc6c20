//! The release manager's operations on published versions (DESIGN §8, §9): VERIFY a version
//! against its manifest, DIFF two versions, AMEND a version into a new one without the
//! conversations of a removal list, and EXPORT a variant as chat-format JSON lines.
//! Releases are immutable: only AMEND writes, and only under a version that does not exist yet.

mod amend;
mod diff;
mod export;
mod schema;
pub mod shard;
mod verify;

pub use amend::{amend, AmendError, AmendOptions, REMOVED_COUNTER_GROUP};
pub use diff::{diff, CountDelta, DiffReport, IdenticalShard, VariantDiff};
pub use export::{export, ExportFormat, ExportOptions, ExportReport};
pub use schema::schema_differences;
pub use verify::{
    verify, PiiFinding, PiiScan, PiiScanReport, Problem, VerifyOptions, VerifyReport, DEFAULT_PII_SAMPLE,
};

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
