//! [`AccountStore`]: the web accounts, wherever they are kept (SQLite's
//! [`Accounts`], `auth.sqlite`; PostgreSQL's `homeward_pg::PgAccounts`).
//!
//! The contract every implementation keeps (checked by the accounts
//! conformance suite, `accounts_suite!`):
//!
//! - Usernames are unique (exact bytes): a second [`create_user`] with a
//!   taken name is [`StoreError::Exists`] `{ what: "user" }`.
//! - Session and token secrets are stored only as [`secret_digest`] (the
//!   SHA-256 of the secret, lowercase hex); passwords arrive already hashed.
//! - A session is live until `created + seconds` (`seconds <= 0`: never);
//!   a disabled account's sessions and tokens are refused, and disabling
//!   ends its sessions and revokes its tokens for good, in one transaction.
//! - Unknown ids are [`StoreError::NotFound`] (`"user"`, `"token"`);
//!   revoking a revoked token is `NotFound` too.
//! - The access log is append-only and read newest first.
//!
//! Every method takes `&self`, so one store can sit behind a lock as
//! `Box<dyn AccountStore + Send>`; each call is its own transaction.
//!
//! [`create_user`]: AccountStore::create_user

use super::accounts::{AccessEntry, Accounts, Receipt, Role, TokenInfo, User};
use super::files::{hex, sha256};
use super::StoreError;

/// SHA-256 of a session or token secret, lowercase hex: the only form in
/// which an [`AccountStore`] keeps a secret.
pub fn secret_digest(secret: &str) -> String {
    hex(&sha256(secret.as_bytes()))
}

/// The web accounts store: accounts with password hashes, sessions, API
/// tokens, sighting receipts and the access log. See the module docs for
/// the contract.
pub trait AccountStore {
    /// Creates an account with an already computed password hash; a taken
    /// name is [`StoreError::Exists`].
    fn create_user(&self, username: &str, pw_hash: &str, role: Role) -> Result<u64, StoreError>;

    /// Whether an enabled admin account exists.
    fn has_admin(&self) -> Result<bool, StoreError>;

    /// Every account, by id.
    fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Enables or disables an account; disabling ends its sessions and
    /// revokes its API tokens for good, in one transaction.
    fn set_disabled(&self, id: u64, disabled: bool) -> Result<(), StoreError>;

    /// An account and its password hash, by name.
    fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, StoreError>;

    /// Starts a session for `user_id` lasting `seconds`; the secret is
    /// stored only as its digest.
    fn create_session(
        &self,
        user_id: u64,
        secret: &str,
        csrf: &str,
        seconds: i64,
    ) -> Result<(), StoreError>;

    /// The enabled account and CSRF token of a live session.
    fn session(&self, secret: &str) -> Result<Option<(User, String)>, StoreError>;

    /// Ends a session (nothing if there is none).
    fn end_session(&self, secret: &str) -> Result<(), StoreError>;

    /// Records an API token for a user; the secret is stored only as its digest.
    fn create_token(&self, user_id: u64, name: &str, secret: &str) -> Result<u64, StoreError>;

    /// The enabled account of a live API token.
    fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError>;

    /// Every API token (without secrets), by id.
    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Revokes a live API token.
    fn revoke_token(&self, id: u64) -> Result<(), StoreError>;

    /// Appends to the access log. `target` is a row reference, never personal data.
    fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), StoreError>;

    /// The newest `limit` access log entries, newest first.
    fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, StoreError>;

    /// Records a receipt under `code` for a submitted sighting.
    fn add_receipt(
        &self,
        code: &str,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<(), StoreError>;

    /// A receipt by its code.
    fn receipt(&self, code: &str) -> Result<Option<Receipt>, StoreError>;

    /// The SQLite store behind this one, if it is one (for the sighting
    /// notes older builds kept in `auth.sqlite`); `None` otherwise.
    fn as_sqlite(&mut self) -> Option<&mut Accounts> {
        None
    }
}

impl AccountStore for Accounts {
    fn create_user(&self, username: &str, pw_hash: &str, role: Role) -> Result<u64, StoreError> {
        Accounts::create_user(self, username, pw_hash, role)
    }
    fn has_admin(&self) -> Result<bool, StoreError> {
        Accounts::has_admin(self)
    }
    fn users(&self) -> Result<Vec<User>, StoreError> {
        Accounts::users(self)
    }
    fn set_disabled(&self, id: u64, disabled: bool) -> Result<(), StoreError> {
        Accounts::set_disabled(self, id, disabled)
    }
    fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        Accounts::user_with_hash(self, username)
    }
    fn create_session(
        &self,
        user_id: u64,
        secret: &str,
        csrf: &str,
        seconds: i64,
    ) -> Result<(), StoreError> {
        Accounts::create_session(self, user_id, secret, csrf, seconds)
    }
    fn session(&self, secret: &str) -> Result<Option<(User, String)>, StoreError> {
        Accounts::session(self, secret)
    }
    fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        Accounts::end_session(self, secret)
    }
    fn create_token(&self, user_id: u64, name: &str, secret: &str) -> Result<u64, StoreError> {
        Accounts::create_token(self, user_id, name, secret)
    }
    fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError> {
        Accounts::token_user(self, secret)
    }
    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Accounts::tokens(self)
    }
    fn revoke_token(&self, id: u64) -> Result<(), StoreError> {
        Accounts::revoke_token(self, id)
    }
    fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
        Accounts::log(self, actor, action, target)
    }
    fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, StoreError> {
        Accounts::access_log(self, limit)
    }
    fn add_receipt(
        &self,
        code: &str,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<(), StoreError> {
        Accounts::add_receipt(self, code, sighting_id, user_id, faces)
    }
    fn receipt(&self, code: &str) -> Result<Option<Receipt>, StoreError> {
        Accounts::receipt(self, code)
    }
    fn as_sqlite(&mut self) -> Option<&mut Accounts> {
        Some(self)
    }
}

#[allow(dead_code)]
fn _object_safe(a: Accounts) -> Box<dyn AccountStore + Send> {
    Box::new(a)
}
