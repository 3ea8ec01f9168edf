//! Dataset evaluations run from the CLI (never from the default test suite).

pub mod detect;
pub mod dupes;
pub mod lfw;
pub mod search;
pub mod sface_points;
pub mod through_registry;
pub mod transforms;
