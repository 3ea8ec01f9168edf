//! Web accounts for the server: argon2 password hashing, the making of
//! session, CSRF and API-token secrets, and the access log, over an
//! [`AccountStore`]: SQLite's (`<db>/auth.sqlite`,
//! [`homeward_core::store::Accounts`], [`AuthStore::open`]) or any other,
//! such as PostgreSQL's `homeward_pg::PgAccounts` shared by several servers
//! ([`AuthStore::from_store`]). The store holds all the SQL and keeps
//! secrets only as their SHA-256.
//!
//! Kept apart from the registry so that the registry stays the store of
//! record for cases and sightings and knows nothing of web accounts.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use homeward_core::store::{AccountStore, Accounts, Registry, StoreError};

pub use homeward_core::store::{AccessEntry, Receipt, Role, TokenInfo, User};

/// A session lasts this long after sign-in, seconds.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What can go wrong in the auth store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("account store: {0}")]
    Store(StoreError),
    #[error("invalid {field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("user `{username}` already exists; choose another name")]
    Exists { username: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: u64 },
    #[error("the operating system gave no randomness: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists { name, .. } => AuthError::Exists { username: name },
            StoreError::NotFound { what, id } => AuthError::NotFound { what, id },
            other => AuthError::Store(other),
        }
    }
}

/// Current time, seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_username(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid {
            field: "username",
            why: "use 1-64 letters, digits, '.', '_', '-' or '@'".into(),
        })
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(AuthError::Invalid {
            field: "password",
            why: format!(
                "{n} characters; use at least {MIN_PASSWORD_CHARS} (and at most 1024 bytes)"
            ),
        });
    }
    Ok(())
}

/// Hashes a password with argon2id (default parameters) and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

fn verify_hash(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The auth store. Every method is blocking (SQLite or a database
/// connection); call it off the async executor's hot path.
pub struct AuthStore {
    accounts: Mutex<Box<dyn AccountStore + Send>>,
    /// A valid hash of a random password, verified against when a username
    /// is unknown so that sign-in takes as long either way.
    dummy_hash: String,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore").finish_non_exhaustive()
    }
}

impl AuthStore {
    /// Opens or creates `<dir>/auth.sqlite`.
    pub fn open(dir: &Path) -> Result<AuthStore, AuthError> {
        Self::from_store(Box::new(Accounts::open(dir)?))
    }

    /// The auth store over any accounts store, e.g. PostgreSQL's
    /// (`homeward_pg::PgAccounts::connect(url)`).
    pub fn from_store(accounts: Box<dyn AccountStore + Send>) -> Result<AuthStore, AuthError> {
        let dummy_hash = hash_password(&random_hex(16)?)?;
        Ok(AuthStore {
            accounts: Mutex::new(accounts),
            dummy_hash,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn AccountStore) -> Result<T, StoreError>,
    ) -> Result<T, AuthError> {
        let mut a = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        f(a.as_mut()).map_err(AuthError::from)
    }

    /// Creates an account. The password is hashed with argon2id.
    pub fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<u64, AuthError> {
        check_username(username)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        self.with(|a| a.create_user(username, &hash, role))
    }

    /// Whether an enabled admin account exists.
    pub fn has_admin(&self) -> Result<bool, AuthError> {
        self.with(|a| a.has_admin())
    }

    /// Every account.
    pub fn users(&self) -> Result<Vec<User>, AuthError> {
        self.with(|a| a.users())
    }

    /// Enables or disables an account; disabling ends its sessions and
    /// revokes its API tokens for good (enabling it again does not revive
    /// them: the owner makes new ones).
    pub fn set_disabled(&self, id: u64, disabled: bool) -> Result<(), AuthError> {
        self.with(|a| a.set_disabled(id, disabled))
    }

    /// The enabled account with this name and password, if any. Takes the
    /// time of one argon2 verification whether or not the name exists.
    pub fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        match self.with(|a| a.user_with_hash(username))? {
            Some((user, hash)) => {
                let ok = verify_hash(password, &hash);
                Ok((ok && !user.disabled).then_some(user))
            }
            None => {
                let _ = verify_hash(password, &self.dummy_hash);
                Ok(None)
            }
        }
    }

    /// Starts a session: returns the session secret (for the cookie) and its CSRF token.
    pub fn create_session(&self, user_id: u64) -> Result<(String, String), AuthError> {
        let secret = random_hex(32)?;
        let csrf = random_hex(32)?;
        self.with(|a| a.create_session(user_id, &secret, &csrf, SESSION_SECONDS))?;
        Ok((secret, csrf))
    }

    /// The account and CSRF token of a live session.
    pub fn session(&self, secret: &str) -> Result<Option<(User, String)>, AuthError> {
        self.with(|a| a.session(secret))
    }

    /// Ends a session.
    pub fn end_session(&self, secret: &str) -> Result<(), AuthError> {
        self.with(|a| a.end_session(secret))
    }

    /// Creates an API token for a user. The secret is returned once and
    /// stored only as its SHA-256.
    pub fn create_token(&self, user_id: u64, name: &str) -> Result<(u64, String), AuthError> {
        if name.trim().is_empty() || name.len() > 100 {
            return Err(AuthError::Invalid {
                field: "name",
                why: "give the token a name of 1-100 characters".into(),
            });
        }
        let secret = format!("hwt_{}", random_hex(32)?);
        let id = self.with(|a| a.create_token(user_id, name, &secret))?;
        Ok((id, secret))
    }

    /// The account of a live API token.
    pub fn token_user(&self, secret: &str) -> Result<Option<User>, AuthError> {
        self.with(|a| a.token_user(secret))
    }

    /// Every API token (without secrets).
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        self.with(|a| a.tokens())
    }

    /// Revokes an API token.
    pub fn revoke_token(&self, id: u64) -> Result<(), AuthError> {
        self.with(|a| a.revoke_token(id))
    }

    /// Appends to the access log. `target` is a row reference, never personal data.
    pub fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), AuthError> {
        self.with(|a| a.log(actor, action, target))
    }

    /// The newest `limit` access log entries, newest first.
    pub fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, AuthError> {
        self.with(|a| a.access_log(limit))
    }

    /// Records a receipt for a submitted sighting and returns its code.
    pub fn add_receipt(
        &self,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<String, AuthError> {
        let code = format!("HW-{}", random_hex(6)?.to_uppercase());
        self.with(|a| a.add_receipt(&code, sighting_id, user_id, faces))?;
        Ok(code)
    }

    /// A receipt by its code.
    pub fn receipt(&self, code: &str) -> Result<Option<Receipt>, AuthError> {
        self.with(|a| a.receipt(code))
    }

    /// Moves the sighting notes older builds kept in `auth.sqlite` into the
    /// registry, then forgets them there. Safe to repeat after a crash
    /// between the two steps: the registry keeps a note it already has.
    /// Does nothing when the accounts are not SQLite's (no build kept notes
    /// anywhere else).
    pub fn move_notes_to(&self, registry: &mut Registry) -> Result<(), AuthError> {
        self.with(|a| {
            let Some(a) = a.as_sqlite() else {
                return Ok(());
            };
            let notes = a.legacy_sighting_notes()?;
            if notes.is_empty() {
                return Ok(());
            }
            let moved = registry.adopt_sighting_notes("system:upgrade", &notes)?;
            a.forget_legacy_sighting_notes(&moved)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = AuthStore::open(dir.path()).unwrap();
        let id = store
            .create_user("ada", "correct horse battery", Role::Admin)
            .unwrap();
        assert!(store.has_admin().unwrap());
        let user = store
            .verify_password("ada", "correct horse battery")
            .unwrap()
            .unwrap();
        assert_eq!(user.id, id);
        assert!(store
            .verify_password("ada", "wrong password!!")
            .unwrap()
            .is_none());
        assert!(store
            .verify_password("nobody", "correct horse battery")
            .unwrap()
            .is_none());
        assert!(matches!(
            store.create_user("ada", "another long password", Role::Volunteer),
            Err(AuthError::Exists { .. })
        ));
        assert!(matches!(
            store.create_user("bob", "short", Role::Volunteer),
            Err(AuthError::Invalid {
                field: "password",
                ..
            })
        ));
        // The stored hash is argon2id, never the password.
        let bytes = std::fs::read(dir.path().join("auth.sqlite")).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("correct horse battery"));
    }

    #[test]
    fn tokens_and_sessions_are_stored_as_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = AuthStore::open(dir.path()).unwrap();
        let id = store
            .create_user("cw", "a long enough password", Role::CaseWorker)
            .unwrap();
        let (tid, secret) = store.create_token(id, "script").unwrap();
        assert_eq!(store.token_user(&secret).unwrap().unwrap().id, id);
        let (session, csrf) = store.create_session(id).unwrap();
        assert_eq!(store.session(&session).unwrap().unwrap().1, csrf);
        store.revoke_token(tid).unwrap();
        assert!(store.token_user(&secret).unwrap().is_none());
        store.set_disabled(id, true).unwrap();
        assert!(store.session(&session).unwrap().is_none());
        // Disabling revokes the tokens; enabling again does not revive them.
        let (_, second) = store.create_token(id, "another").unwrap();
        store.set_disabled(id, false).unwrap();
        assert_eq!(store.token_user(&second).unwrap().unwrap().id, id);
        store.set_disabled(id, true).unwrap();
        store.set_disabled(id, false).unwrap();
        assert!(store.token_user(&second).unwrap().is_none());
        assert!(store.log("user:cw", "read", "case:1").is_ok());
        let bytes = std::fs::read(dir.path().join("auth.sqlite")).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&secret),
            "the secret itself is never stored"
        );
    }

    #[test]
    fn postgres_accounts_are_shared_by_two_auth_stores() {
        let Some(db) = homeward_pg::cluster::TestDb::new_or_skip("auth_store_pg") else {
            return;
        };
        let open = || {
            let accounts = homeward_pg::PgAccounts::connect(&db.url()).unwrap();
            AuthStore::from_store(Box::new(accounts)).unwrap()
        };
        let (a, b) = (open(), open());
        let id = a
            .create_user("cw", "a long enough password", Role::CaseWorker)
            .unwrap();
        assert!(matches!(
            b.create_user("cw", "another long password", Role::Admin),
            Err(AuthError::Exists { .. })
        ));
        let user = b.verify_password("cw", "a long enough password").unwrap();
        assert_eq!(user.map(|u| u.id), Some(id));
        let (session, csrf) = a.create_session(id).unwrap();
        assert_eq!(b.session(&session).unwrap().unwrap().1, csrf);
        let (tid, secret) = b.create_token(id, "script").unwrap();
        assert_eq!(a.token_user(&secret).unwrap().unwrap().id, id);
        a.revoke_token(tid).unwrap();
        assert!(b.token_user(&secret).unwrap().is_none());
        b.set_disabled(id, true).unwrap();
        assert!(a.session(&session).unwrap().is_none());
        // No build kept sighting notes outside auth.sqlite: nothing to move.
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::open(dir.path()).unwrap();
        a.move_notes_to(&mut registry).unwrap();
    }
}
