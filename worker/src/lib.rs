//! The worker: the job runner. A stateless job loop that reads a job's inputs from the store,
//! calls the stage crates (`stages/`: link, language, geoip, ip-hash, pii, toxicity,
//! credentials) and writes the outputs; the only crate that runs jobs against the store and the
//! queue. The coordinator's embedded default runs the same loop as tasks in its own process;
//! `worker run` runs it as a separate process against Redis and S3 (`service`).

pub mod assemble;
pub mod enrich;
pub mod jobs;
pub mod redaction;
pub mod resources;
pub mod run_check;
pub mod runner;
pub mod service;
