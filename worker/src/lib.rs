//! The worker: a stateless job loop and the processing stages it runs. The coordinator's
//! embedded default runs the same loop as tasks in its own process.

pub mod assemble;
pub mod enrich;
pub mod geo;
pub mod jobs;
pub mod link;
pub mod release;
pub mod runner;
