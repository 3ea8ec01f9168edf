//! The harness the end-to-end tests in `tests/` share: each test file
//! takes it in with `mod common;` (allowed dead code: each file uses only
//! part of it) and uses what it needs.
//!
//! - [`fixtures`]: the fixture photos and the test passwords;
//! - [`cli`]: the `homeward` binary run to its end, and its output read;
//! - [`server`]: a `homeward serve` started on a free loopback port,
//!   stopped when dropped;
//! - [`http`]: requests to a running server and their answers;
//! - [`forms`]: multipart and url-encoded request bodies;
//! - [`accounts`]: sign-in sessions, users and API tokens;
//! - [`registry`]: cases written straight into a registry;
//! - [`pg`]: a registry on a throwaway PostgreSQL cluster;
//! - [`wait`]: polling until something holds.
//!
//! A test file adds the requests its own tests make as methods of
//! [`server::Server`] in an `impl Server` block of its own (the type is of
//! the same crate); the methods here keep names no test file uses:
//! `db`, `log`, `crash`, `send`, `send_as`, `req`, `post_form_as`,
//! `post_photo`, `session`, `add_user`, `add_token`,
//! `add_user_with_token`, `first_admin_token`.

pub mod accounts;
pub mod cli;
pub mod fixtures;
pub mod forms;
pub mod http;
pub mod pg;
pub mod registry;
pub mod server;
pub mod wait;
