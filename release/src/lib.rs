//! Released versions (DESIGN §8, §9): the released record and its schema (`record`, the one
//! definition the worker writes with and every reader checks against), the manifest that makes a version exist, per-shard
//! statistics and the dataset card built from them, channels that move between versions by
//! compare-and-swap, and the release manager's operations (verify, diff, amend, export).

pub mod card;
pub mod channels;
pub mod claim;
pub mod exclusions;
pub mod manifest;
pub mod ops;
pub mod record;
pub mod stats;
