//! Homeward's matching library: every use case and all matching policy.
//!
//! The fronts (the `homeward` CLI and its web server) parse input, call this
//! library and render what it returns. See `docs/ARCHITECTURE.md`.

pub mod matching;
pub mod ranking;
