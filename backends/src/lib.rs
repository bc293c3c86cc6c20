//! The distributed backends: an S3 object store and a Redis Streams queue implementing the
//! traits in `shared`, the URI-driven constructors both binaries use, and helpers that start
//! real Redis and S3-compatible servers for tests.

pub mod open;
pub mod redis_queue;
pub mod s3;
pub mod test_servers;

pub use open::{open_queue, open_store};
