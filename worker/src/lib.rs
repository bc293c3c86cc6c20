//! The worker: a stateless job loop and the processing stages it runs. The coordinator's
//! embedded default runs the same loop as tasks in its own process; `worker run` runs it as a
//! separate process against Redis and S3 (`service`).

pub mod assemble;
pub mod enrich;
pub mod geo;
pub mod jobs;
pub mod language;
pub mod link;
pub mod redaction;
pub mod release;
pub mod resources;
pub mod runner;
pub mod service;
