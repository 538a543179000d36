//! Helpers shared by integration tests.

pub mod netns;
pub mod record_check;
pub mod workload;
