//! The coordinator: plans and runs releases (the synthetic generator is the `generator` crate).

pub mod commit;
pub mod config_file;
pub mod fleet;
pub mod pipeline;
pub mod plan;
pub mod retention;
pub mod summary;
