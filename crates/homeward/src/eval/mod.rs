//! Dataset evaluations run from the CLI (never from the default test suite).

pub mod lfw;
pub mod search;
