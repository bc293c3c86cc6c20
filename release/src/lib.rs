//! Released versions (DESIGN §8, §9): the manifest that makes a version exist, per-shard
//! statistics and the dataset card built from them, channels that move between versions by
//! compare-and-swap, and the release manager's operations (verify, diff, amend, export).

pub mod card;
pub mod channels;
pub mod exclusions;
pub mod manifest;
pub mod ops;
pub mod stats;
