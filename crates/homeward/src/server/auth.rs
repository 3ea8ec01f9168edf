//! The server's own store, `<db>/auth.sqlite`: web accounts with argon2
//! password hashes, sessions and API tokens (stored as SHA-256 of the
//! secret), the append-only access log, sighting receipts and notes.
//!
//! Kept apart from the registry so that the registry stays the store of
//! record for cases and sightings and knows nothing of web accounts.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// `PRAGMA application_id` of the auth store ("HWAU").
const APPLICATION_ID: i32 = 0x4857_4155;
/// Schema version of the auth store.
const SCHEMA_VERSION: i64 = 1;
/// A session lasts this long after sign-in, seconds.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;

const SCHEMA: &str = r#"
CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('volunteer','caseworker','admin')),
    pw_hash     TEXT NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE TABLE sessions (
    id_sha256   TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE TABLE receipts (
    code        TEXT PRIMARY KEY,
    sighting_id INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    faces       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE sighting_notes (
    sighting_id INTEGER PRIMARY KEY,
    note        TEXT NOT NULL
);
CREATE TABLE access_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL
);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
"#;

/// What a web account may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Submits sightings and sees only their own receipts.
    Volunteer,
    /// Cases, sightings, search and the review queue.
    CaseWorker,
    /// Everything, plus users, API tokens, erasure and the access log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::CaseWorker => "caseworker",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "volunteer" => Some(Role::Volunteer),
            "caseworker" => Some(Role::CaseWorker),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A web account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
}

/// An API token's public facts (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: u64,
    pub user_id: u64,
    pub username: String,
    pub name: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// One access log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub id: u64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// A sighting receipt as its submitter may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub code: String,
    pub sighting_id: u64,
    pub user_id: u64,
    pub faces: u32,
    pub created_at: i64,
}

/// What can go wrong in the auth store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("auth database {path}: {source}; check the --db directory and free space")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a Homeward auth store ({why}); move it away or point --db elsewhere")]
    Foreign { path: PathBuf, why: String },
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
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a secret, hex; secrets are stored only this way.
fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
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

/// The auth store. Every method is blocking (SQLite); call it off the async
/// executor's hot path.
pub struct AuthStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// A valid hash of a random password, verified against when a username
    /// is unknown so that sign-in takes as long either way.
    dummy_hash: String,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("path", &self.path)
            .finish()
    }
}

fn row_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get::<_, i64>(0)? as u64,
        username: r.get(1)?,
        role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Volunteer),
        disabled: r.get::<_, i64>(3)? != 0,
    })
}

impl AuthStore {
    /// Opens or creates `<dir>/auth.sqlite`.
    pub fn open(dir: &Path) -> Result<AuthStore, AuthError> {
        let path = dir.join("auth.sqlite");
        let sql = |source| AuthError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(sql)?;
        // WAL with synchronous=NORMAL: a power cut may lose the last few
        // access-log lines but never corrupts the file; FULL would cost an
        // fsync on every request.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(sql)?;
        let app: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(sql)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if app != APPLICATION_ID && (app != 0 || version != 0) {
            return Err(AuthError::Foreign {
                path,
                why: format!("application_id {app:#x}, user_version {version}"),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(AuthError::Foreign {
                path,
                why: format!("schema version {version} is newer than this build's {SCHEMA_VERSION}; upgrade Homeward"),
            });
        }
        if version == 0 {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(sql)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now()])
            .map_err(sql)?;
        let dummy_hash = hash_password(&random_hex(16)?)?;
        Ok(AuthStore {
            path,
            conn: Mutex::new(conn),
            dummy_hash,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, AuthError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| AuthError::Sqlite {
            path: self.path.clone(),
            source,
        })
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
        let res = self.with(|c| {
            c.execute(
                "INSERT INTO users (username, role, pw_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![username, role.as_str(), hash, now()],
            )?;
            Ok(c.last_insert_rowid() as u64)
        });
        match res {
            Err(AuthError::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            }) if f.code == rusqlite::ErrorCode::ConstraintViolation => Err(AuthError::Exists {
                username: username.to_string(),
            }),
            other => other,
        }
    }

    /// Whether an enabled admin account exists.
    pub fn has_admin(&self) -> Result<bool, AuthError> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n > 0)
    }

    /// Every account.
    pub fn users(&self) -> Result<Vec<User>, AuthError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, username, role, disabled FROM users ORDER BY id")?;
            let rows = st.query_map([], row_user)?;
            rows.collect()
        })
    }

    /// Enables or disables an account; disabling ends its sessions and
    /// revokes its API tokens for good (enabling it again does not revive
    /// them: the owner makes new ones).
    pub fn set_disabled(&self, id: u64, disabled: bool) -> Result<(), AuthError> {
        let n = self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE users SET disabled = ?1 WHERE id = ?2",
                params![disabled as i64, id as i64],
            )?;
            if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id as i64])?;
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                    params![now(), id as i64],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })?;
        if n == 0 {
            return Err(AuthError::NotFound { what: "user", id });
        }
        Ok(())
    }

    /// The enabled account with this name and password, if any. Takes the
    /// time of one argon2 verification whether or not the name exists.
    pub fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        let row: Option<(User, String)> = self.with(|c| {
            c.query_row(
                "SELECT id, username, role, disabled, pw_hash FROM users WHERE username = ?1",
                [username],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()
        })?;
        match row {
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
        let t = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (id_sha256, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest(&secret), user_id as i64, csrf, t, t + SESSION_SECONDS],
            )
        })?;
        Ok((secret, csrf))
    }

    /// The account and CSRF token of a live session.
    pub fn session(&self, secret: &str) -> Result<Option<(User, String)>, AuthError> {
        self.with(|c| {
            c.query_row(
                "SELECT u.id, u.username, u.role, u.disabled, s.csrf FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
                params![digest(secret), now()],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()
        })
    }

    /// Ends a session.
    pub fn end_session(&self, secret: &str) -> Result<(), AuthError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1",
                [digest(secret)],
            )
        })
        .map(|_| ())
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
        let id = self.with(|c| {
            let exists: Option<i64> = c
                .query_row("SELECT id FROM users WHERE id = ?1", [user_id as i64], |r| r.get(0))
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            c.execute(
                "INSERT INTO api_tokens (user_id, name, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user_id as i64, name, digest(&secret), now()],
            )?;
            Ok(Some(c.last_insert_rowid() as u64))
        })?;
        let id = id.ok_or(AuthError::NotFound {
            what: "user",
            id: user_id,
        })?;
        Ok((id, secret))
    }

    /// The account of a live API token.
    pub fn token_user(&self, secret: &str) -> Result<Option<User>, AuthError> {
        self.with(|c| {
            c.query_row(
                "SELECT u.id, u.username, u.role, u.disabled FROM api_tokens t
                 JOIN users u ON u.id = t.user_id
                 WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL AND u.disabled = 0",
                [digest(secret)],
                row_user,
            )
            .optional()
        })
    }

    /// Every API token (without secrets).
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked_at IS NOT NULL
                 FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(TokenInfo {
                    id: r.get::<_, i64>(0)? as u64,
                    user_id: r.get::<_, i64>(1)? as u64,
                    username: r.get(2)?,
                    name: r.get(3)?,
                    created_at: r.get(4)?,
                    revoked: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Revokes an API token.
    pub fn revoke_token(&self, id: u64) -> Result<(), AuthError> {
        let n = self.with(|c| {
            c.execute(
                "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                params![now(), id as i64],
            )
        })?;
        if n == 0 {
            return Err(AuthError::NotFound { what: "token", id });
        }
        Ok(())
    }

    /// Appends to the access log. `target` is a row reference, never personal data.
    pub fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), AuthError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO access_log (at, actor, action, target) VALUES (?1, ?2, ?3, ?4)",
                params![now(), actor, action, target],
            )
        })
        .map(|_| ())
    }

    /// The newest `limit` access log entries, newest first.
    pub fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, AuthError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, at, actor, action, target FROM access_log ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(AccessEntry {
                    id: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records a receipt for a submitted sighting and returns its code.
    pub fn add_receipt(
        &self,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<String, AuthError> {
        let code = format!("HW-{}", random_hex(6)?.to_uppercase());
        self.with(|c| {
            c.execute(
                "INSERT INTO receipts (code, sighting_id, user_id, faces, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![code, sighting_id as i64, user_id as i64, faces, now()],
            )
        })?;
        Ok(code)
    }

    /// A receipt by its code.
    pub fn receipt(&self, code: &str) -> Result<Option<Receipt>, AuthError> {
        self.with(|c| {
            c.query_row(
                "SELECT code, sighting_id, user_id, faces, created_at FROM receipts WHERE code = ?1",
                [code],
                |r| {
                    Ok(Receipt {
                        code: r.get(0)?,
                        sighting_id: r.get::<_, i64>(1)? as u64,
                        user_id: r.get::<_, i64>(2)? as u64,
                        faces: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Stores the submitter's note on a sighting (the registry has no field for it yet).
    pub fn set_note(&self, sighting_id: u64, note: &str) -> Result<(), AuthError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO sighting_notes (sighting_id, note) VALUES (?1, ?2)",
                params![sighting_id as i64, note],
            )
        })
        .map(|_| ())
    }

    /// The submitter's note on a sighting.
    pub fn note(&self, sighting_id: u64) -> Result<Option<String>, AuthError> {
        self.with(|c| {
            c.query_row(
                "SELECT note FROM sighting_notes WHERE sighting_id = ?1",
                [sighting_id as i64],
                |r| r.get(0),
            )
            .optional()
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
        let conn = Connection::open(dir.path().join("auth.sqlite")).unwrap();
        assert!(conn.execute("DELETE FROM access_log", []).is_err());
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM api_tokens WHERE token_sha256 = ?1",
                [&secret],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "the secret itself is never stored");
    }
}
