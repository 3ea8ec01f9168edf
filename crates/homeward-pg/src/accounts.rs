//! The web accounts on PostgreSQL: [`PgAccounts`] implements the core's
//! [`AccountStore`] with the semantics of SQLite's `auth.sqlite`
//! ([`Accounts`](homeward_core::store::Accounts)), in the registry's
//! database (schema version 5), so that every server on one database
//! shares accounts, sessions, API tokens, receipts and the access log: a
//! session made through one server is valid on every other, and a token
//! revoked or an account disabled through one is refused by all at once
//! (every check reads the row; nothing is cached).
//!
//! Secrets are stored as SQLite stores them ([`secret_digest`]); times are
//! the database server's clock, so servers whose clocks disagree still
//! agree on when a session ends.

use std::sync::{Mutex, MutexGuard};

use homeward_core::store::{
    secret_digest, AccessEntry, AccountStore, Receipt, Role, StoreError, TokenInfo, User,
};
use postgres::error::SqlState;
use postgres::{Client, Row};

use crate::error::{self, PgError, Target};
use crate::rows::{count, id, sql_id, word};

/// The current time in whole seconds since the Unix epoch, by the
/// database server's clock.
const NOW: &str = "floor(extract(epoch FROM statement_timestamp()))::bigint";

/// The web accounts in a PostgreSQL registry database, on a connection of
/// their own (reopened at the next call if it is lost). See the module docs.
pub struct PgAccounts {
    client: Mutex<Client>,
    config: postgres::Config,
    target: Target,
}

impl std::fmt::Debug for PgAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAccounts")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl PgAccounts {
    /// Opens the accounts of the registry in the PostgreSQL database `url`
    /// (the same URL as [`PgStore::connect`](crate::PgStore::connect)):
    /// connects, brings the schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)
    /// as the registry does (an empty database becomes an empty registry),
    /// and drops expired sessions. Takes no registry lock: any number of
    /// servers open the accounts together, also beside a store opened alone.
    pub fn connect(url: &str) -> Result<PgAccounts, PgError> {
        let (config, target) = crate::config_of(url)?;
        let mut client = crate::connect_client(&config, &target)?;
        crate::schema::migrate(&mut client, &target)?;
        client
            .execute(
                &format!("DELETE FROM sessions WHERE expires_at < {NOW}"),
                &[],
            )
            .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
        Ok(PgAccounts {
            client: Mutex::new(client),
            config,
            target,
        })
    }

    /// The database, without password.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn db(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |e| error::store_error(e, &self.target)
    }

    /// The connection, reconnecting first if the last one was lost (a
    /// restarted database server should not need a restarted web server).
    fn client(&self) -> Result<MutexGuard<'_, Client>, StoreError> {
        // A panic while holding the client leaves no transaction open
        // (dropping one rolls it back), so the client is still sound.
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if client.is_closed() {
            *client = crate::connect_client(&self.config, &self.target)
                .map_err(|e| e.into_store_error(&self.target))?;
        }
        Ok(client)
    }
}

fn user_row(r: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: id(r.get(0)),
        username: r.get(1),
        role: word::<Role>(r.get(2), "role")?,
        disabled: r.get(3),
    })
}

impl AccountStore for PgAccounts {
    fn create_user(&self, username: &str, pw_hash: &str, role: Role) -> Result<u64, StoreError> {
        let sql = format!(
            "INSERT INTO users (username, role, pw_hash, created_at) VALUES ($1, $2, $3, {NOW})
             RETURNING id"
        );
        match self
            .client()?
            .query_one(&sql, &[&username, &role.as_str(), &pw_hash])
        {
            Ok(r) => Ok(id(r.get(0))),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Exists {
                what: "user",
                name: username.to_string(),
            }),
            Err(e) => Err(self.db()(e)),
        }
    }

    fn has_admin(&self) -> Result<bool, StoreError> {
        let r = self
            .client()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled)",
                &[],
            )
            .map_err(self.db())?;
        Ok(r.get(0))
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT id, username, role, disabled FROM users ORDER BY id",
                &[],
            )
            .map_err(self.db())?;
        rows.iter().map(user_row).collect()
    }

    fn set_disabled(&self, user: u64, disabled: bool) -> Result<(), StoreError> {
        let uid = sql_id(user, "user")?;
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(self.db())?;
        let n = tx
            .execute(
                "UPDATE users SET disabled = $1 WHERE id = $2",
                &[&disabled, &uid],
            )
            .map_err(self.db())?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "user",
                id: user,
            });
        }
        if disabled {
            tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&uid])
                .map_err(self.db())?;
            tx.execute(
                &format!(
                    "UPDATE api_tokens SET revoked_at = {NOW}
                     WHERE user_id = $1 AND revoked_at IS NULL"
                ),
                &[&uid],
            )
            .map_err(self.db())?;
        }
        tx.commit().map_err(self.db())
    }

    fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT id, username, role, disabled, pw_hash FROM users WHERE username = $1",
                &[&username],
            )
            .map_err(self.db())?;
        row.map(|r| Ok((user_row(&r)?, r.get(4)))).transpose()
    }

    fn create_session(
        &self,
        user_id: u64,
        secret: &str,
        csrf: &str,
        seconds: i64,
    ) -> Result<(), StoreError> {
        let uid = sql_id(user_id, "user")?;
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO sessions (id_sha256, user_id, csrf, created_at, expires_at)
                     VALUES ($1, $2, $3, {NOW}, {NOW} + $4)"
                ),
                &[&secret_digest(secret), &uid, &csrf, &seconds],
            )
            .map(drop)
            .map_err(self.db())
    }

    fn session(&self, secret: &str) -> Result<Option<(User, String)>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                &format!(
                    "SELECT u.id, u.username, u.role, u.disabled, s.csrf FROM sessions s
                     JOIN users u ON u.id = s.user_id
                     WHERE s.id_sha256 = $1 AND s.expires_at > {NOW} AND NOT u.disabled"
                ),
                &[&secret_digest(secret)],
            )
            .map_err(self.db())?;
        row.map(|r| Ok((user_row(&r)?, r.get(4)))).transpose()
    }

    fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = $1",
                &[&secret_digest(secret)],
            )
            .map(drop)
            .map_err(self.db())
    }

    fn create_token(&self, user_id: u64, name: &str, secret: &str) -> Result<u64, StoreError> {
        let not_found = StoreError::NotFound {
            what: "user",
            id: user_id,
        };
        let Ok(uid) = i64::try_from(user_id) else {
            return Err(not_found);
        };
        // One statement: the owner is checked and the token written together.
        let row = self
            .client()?
            .query_opt(
                &format!(
                    "INSERT INTO api_tokens (user_id, name, token_sha256, created_at)
                     SELECT id, $2, $3, {NOW} FROM users WHERE id = $1
                     RETURNING id"
                ),
                &[&uid, &name, &secret_digest(secret)],
            )
            .map_err(self.db())?;
        row.map(|r| id(r.get(0))).ok_or(not_found)
    }

    fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT u.id, u.username, u.role, u.disabled FROM api_tokens t
                 JOIN users u ON u.id = t.user_id
                 WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND NOT u.disabled",
                &[&secret_digest(secret)],
            )
            .map_err(self.db())?;
        row.as_ref().map(user_row).transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked_at IS NOT NULL
                 FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
                &[],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: id(r.get(0)),
                user_id: id(r.get(1)),
                username: r.get(2),
                name: r.get(3),
                created_at: r.get(4),
                revoked: r.get(5),
            })
            .collect())
    }

    fn revoke_token(&self, token: u64) -> Result<(), StoreError> {
        let tid = sql_id(token, "token")?;
        let n = self
            .client()?
            .execute(
                &format!(
                    "UPDATE api_tokens SET revoked_at = {NOW} WHERE id = $1 AND revoked_at IS NULL"
                ),
                &[&tid],
            )
            .map_err(self.db())?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "token",
                id: token,
            });
        }
        Ok(())
    }

    fn log(&self, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO access_log (at, actor, action, target) VALUES ({NOW}, $1, $2, $3)"
                ),
                &[&actor, &action, &target],
            )
            .map(drop)
            .map_err(self.db())
    }

    fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT id, at, actor, action, target FROM access_log ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| AccessEntry {
                id: id(r.get(0)),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
            })
            .collect())
    }

    fn add_receipt(
        &self,
        code: &str,
        sighting_id: u64,
        user_id: u64,
        faces: u32,
    ) -> Result<(), StoreError> {
        let sid = sql_id(sighting_id, "sighting")?;
        let uid = sql_id(user_id, "user")?;
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO receipts (code, sighting_id, user_id, faces, created_at)
                     VALUES ($1, $2, $3, $4, {NOW})"
                ),
                &[&code, &sid, &uid, &i64::from(faces)],
            )
            .map(drop)
            .map_err(self.db())
    }

    fn receipt(&self, code: &str) -> Result<Option<Receipt>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT code, sighting_id, user_id, faces, created_at FROM receipts
                 WHERE code = $1",
                &[&code],
            )
            .map_err(self.db())?;
        Ok(row.map(|r| Receipt {
            code: r.get(0),
            sighting_id: id(r.get(1)),
            user_id: id(r.get(2)),
            faces: count(r.get(3)),
            created_at: r.get(4),
        }))
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<PgAccounts>();
    fn boxed(a: PgAccounts) -> Box<dyn AccountStore + Send> {
        Box::new(a)
    }
}
