//! The web accounts store in SQLite, `<dir>/auth.sqlite` (the
//! [`AccountStore`](super::AccountStore) a single server uses): accounts with password
//! hashes, sessions and API tokens (kept only as the SHA-256 of their
//! secret), sighting receipts, and the append-only access log.
//!
//! Kept apart from the registry so that the registry stays the store of
//! record for cases and sightings and knows nothing of web accounts.
//! Password hashing and the making of secrets belong to the caller; this
//! store never sees a password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::{params, Connection, OptionalExtension};

use super::account_store::secret_digest as digest;
use super::codec::now;
use super::StoreError;

/// `PRAGMA application_id` of the accounts store ("HWAU").
pub const ACCOUNTS_APPLICATION_ID: i32 = 0x4857_4155;
/// Schema version of the accounts store.
pub const ACCOUNTS_SCHEMA_VERSION: i64 = 1;

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

/// A role that is none of the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role `{0}` is not recognised; use volunteer, caseworker or admin")]
pub struct RoleError(pub String);

impl Role {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::CaseWorker => "caseworker",
            Role::Admin => "admin",
        }
    }

    /// The role named by `s`, if any.
    pub fn parse(s: &str) -> Option<Role> {
        s.parse().ok()
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Role, RoleError> {
        match s {
            "volunteer" => Ok(Role::Volunteer),
            "caseworker" => Ok(Role::CaseWorker),
            "admin" => Ok(Role::Admin),
            _ => Err(RoleError(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A web account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: u64,
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Whether the account is disabled.
    pub disabled: bool,
}

/// An API token's public facts (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Row id.
    pub id: u64,
    /// Owner.
    pub user_id: u64,
    /// Owner's name.
    pub username: String,
    /// The token's name.
    pub name: String,
    /// When made (seconds since the Unix epoch).
    pub created_at: i64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// One access log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// Sequence number.
    pub id: u64,
    /// When (seconds since the Unix epoch).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what (a row reference, never personal data).
    pub target: String,
}

/// A sighting receipt as its submitter may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The code given to the submitter.
    pub code: String,
    /// The sighting.
    pub sighting_id: u64,
    /// Who submitted it.
    pub user_id: u64,
    /// Faces found.
    pub faces: u32,
    /// When (seconds since the Unix epoch).
    pub created_at: i64,
}

fn row_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get::<_, i64>(0)? as u64,
        username: r.get(1)?,
        role: role.parse().map_err(|e: RoleError| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        disabled: r.get::<_, i64>(3)? != 0,
    })
}

/// The accounts store. Blocking (SQLite); one connection, so wrap it in a
/// lock to share it.
pub struct Accounts {
    path: PathBuf,
    conn: Connection,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path)
            .finish()
    }
}

impl Accounts {
    /// Opens or creates `<dir>/auth.sqlite`, and drops expired sessions.
    pub fn open(dir: &Path) -> Result<Accounts, StoreError> {
        let path = dir.join("auth.sqlite");
        let sql = |source| StoreError::Sqlite {
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
        if app != ACCOUNTS_APPLICATION_ID && (app != 0 || version != 0) {
            return Err(StoreError::NotARegistry {
                path,
                why: format!(
                    "not an accounts store: application_id {app:#x}, user_version {version}"
                ),
            });
        }
        if version > ACCOUNTS_SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
                supported: ACCOUNTS_SCHEMA_VERSION,
            });
        }
        if version == 0 {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.pragma_update(None, "application_id", ACCOUNTS_APPLICATION_ID)
                .map_err(sql)?;
            tx.pragma_update(None, "user_version", ACCOUNTS_SCHEMA_VERSION)
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now()])
            .map_err(sql)?;
        Ok(Accounts { path, conn })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates an account with an already computed password hash.
    pub fn create_user(
        &self,
        username: &str,
        pw_hash: &str,
        role: Role,
    ) -> Result<u64, StoreError> {
        match self.conn.execute(
            "INSERT INTO users (username, role, pw_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![username, role.as_str(), pw_hash, now()],
        ) {
            Ok(_) => Ok(self.conn.last_insert_rowid() as u64),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Exists {
                    what: "user",
                    name: username.to_string(),
                })
            }
            Err(e) => Err(self.sql()(e)),
        }
    }

    /// Whether an enabled admin account exists.
    pub fn has_admin(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(self.sql())
    }

    /// Every account.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, username, role, disabled FROM users ORDER BY id")
            .map_err(self.sql())?;
        let rows = st.query_map([], row_user).map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Enables or disables an account; disabling ends its sessions and
    /// revokes its API tokens for good, in one transaction.
    pub fn set_disabled(&self, id: u64, disabled: bool) -> Result<(), StoreError> {
        let sql = self.sql();
        // One connection, not shared between threads (`Connection` is not
        // `Sync`) and no transaction open: an unchecked one is sound here.
        let tx = self.conn.unchecked_transaction().map_err(&sql)?;
        let n = tx
            .execute(
                "UPDATE users SET disabled = ?1 WHERE id = ?2",
                params![disabled as i64, id as i64],
            )
            .map_err(&sql)?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "user", id });
        }
        if disabled {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id as i64])
                .map_err(&sql)?;
            tx.execute(
                "UPDATE api_tokens SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                params![now(), id as i64],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)
    }

    /// An account and its password hash, by name.
    pub fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, username, role, disabled, pw_hash FROM users WHERE username = ?1",
                [username],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.sql())
    }

    /// Starts a session for `user_id` lasting `seconds`; the secret is
    /// stored only as its digest.
    pub fn create_session(
        &self,
        user_id: u64,
        secret: &str,
        csrf: &str,
        seconds: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        self.conn
            .execute(
                "INSERT INTO sessions (id_sha256, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest(secret), user_id as i64, csrf, t, t + seconds],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// The enabled account and CSRF token of a live session.
    pub fn session(&self, secret: &str) -> Result<Option<(User, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT u.id, u.username, u.role, u.disabled, s.csrf FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
                params![digest(secret), now()],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.sql())
    }

    /// Ends a session.
    pub fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1",
                [digest(secret)],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// Records an API token for a user; the secret is stored only as its digest.
    pub fn create_token(&self, user_id: u64, name: &str, secret: &str) -> Result<u64, StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM users WHERE id = ?1",
                [user_id as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: "user",
                id: user_id,
            });
        }
        self.conn
            .execute(
                "INSERT INTO api_tokens (user_id, name, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user_id as i64, name, digest(secret), now()],
            )
            .map_err(self.sql())?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    /// The enabled account of a live API token.
    pub fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError> {
        self.conn
            .query_row(
                "SELECT u.id, u.username, u.role, u.disabled FROM api_tokens t
                 JOIN users u ON u.id = t.user_id
                 WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL AND u.disabled = 0",
                [digest(secret)],
                row_user,
            )
            .optional()
            .map_err(self.sql())
    }

    /// Every API token (without secrets).
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked_at IS NOT NULL
                 FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| {
                Ok(TokenInfo {
                    id: r.get::<_, i64>(0)? as u64,
                    user_id: r.get::<_, i64>(1)? as u64,
                    username: r.get(2)?,
                    name: r.get(3)?,
                    created_at: r.get(4)?,
                    revoked: r.get(5)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Revokes a live API token.
    pub fn revoke_token(&self, id: u64) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                params![now(), id as i64],
            )
            .map_err(self.sql())?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "token", id });
        }
        Ok(())
    }

    /// Appends to the access log. `target` is a row reference, never personal data.
    pub fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO access_log (at, actor, action, target) VALUES (?1, ?2, ?3, ?4)",
                params![now(), actor, action, target],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// The newest `limit` access log entries, newest first.
    pub fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, at, actor, action, target FROM access_log ORDER BY id DESC LIMIT ?1",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([i64::from(limit)], |r| {
                Ok(AccessEntry {
                    id: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Records a receipt under `code` for a submitted sighting.
    pub fn add_receipt(
        &self,
        code: &str,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO receipts (code, sighting_id, user_id, faces, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![code, sighting_id as i64, user_id as i64, faces, now()],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// A receipt by its code.
    pub fn receipt(&self, code: &str) -> Result<Option<Receipt>, StoreError> {
        self.conn
            .query_row(
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
            .map_err(self.sql())
    }

    /// Sighting notes left here by builds that kept them outside the
    /// registry, to move with [`super::Registry::adopt_sighting_notes`].
    pub fn legacy_sighting_notes(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT sighting_id, note FROM sighting_notes ORDER BY sighting_id")
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Forgets legacy notes once the registry holds them.
    pub fn forget_legacy_sighting_notes(&mut self, ids: &[u64]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for id in ids {
            tx.execute(
                "DELETE FROM sighting_notes WHERE sighting_id = ?1",
                [*id as i64],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// Stores a note in the legacy table (only for tests of the move).
    #[doc(hidden)]
    pub fn put_legacy_sighting_note(&self, sighting_id: u64, note: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sighting_notes (sighting_id, note) VALUES (?1, ?2)",
                params![sighting_id as i64, note],
            )
            .map(|_| ())
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stored_as_digests_and_disabling_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        let id = a
            .create_user("cw", "argon2-hash", Role::CaseWorker)
            .unwrap();
        assert!(matches!(
            a.create_user("cw", "h", Role::Admin),
            Err(StoreError::Exists { what: "user", .. })
        ));
        a.create_token(id, "script", "hwt_secret").unwrap();
        a.create_session(id, "session-secret", "csrf", 3600)
            .unwrap();
        assert_eq!(a.token_user("hwt_secret").unwrap().unwrap().id, id);
        assert_eq!(a.session("session-secret").unwrap().unwrap().1, "csrf");
        a.set_disabled(id, true).unwrap();
        a.set_disabled(id, false).unwrap();
        assert!(a.token_user("hwt_secret").unwrap().is_none());
        assert!(a.session("session-secret").unwrap().is_none());
        assert!(a.create_token(99, "x", "s").is_err());
        a.log("user:cw", "read", "case:1").unwrap();
        assert_eq!(a.access_log(10).unwrap().len(), 1);
        let conn = Connection::open(dir.path().join("auth.sqlite")).unwrap();
        assert!(
            conn.execute("DELETE FROM access_log", []).is_err(),
            "append-only"
        );
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM api_tokens WHERE token_sha256 = 'hwt_secret'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "the secret itself is never stored");
        let bytes = std::fs::read(dir.path().join("auth.sqlite")).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("hwt_secret") && !text.contains("session-secret"));
    }

    #[test]
    fn roles_parse_strictly() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!(Role::parse("root"), None);
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("use volunteer"));
    }
}
