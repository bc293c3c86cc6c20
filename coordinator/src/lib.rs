//! The coordinator: plans and runs releases, and generates synthetic logs for tests and demos.

pub mod commit;
pub mod generate;
pub mod pipeline;
pub mod plan;
pub mod release_cli;
pub mod summary;
