//! Errors of opening a PostgreSQL store, and how a client error becomes a
//! [`StoreError`]. No message ever holds the password of the URL: the
//! database is named by [`Target`], built from the parsed configuration
//! without it.

use std::fmt;

use homeward_core::store::StoreError;
use postgres::config::Host;
use postgres::error::SqlState;

/// Where a store lives, for messages: `user@host:port/database`, never the
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The user, if the URL names one.
    pub user: Option<String>,
    /// `host:port` (or the socket directory and port).
    pub address: String,
    /// The database, if the URL names one.
    pub database: Option<String>,
}

impl Target {
    pub(crate) fn of(config: &postgres::Config) -> Target {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let address = match config.get_hosts().first() {
            Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]:{port}"),
            Some(Host::Tcp(h)) => format!("{h}:{port}"),
            Some(Host::Unix(p)) => format!("{}:{port}", p.display()),
            None => format!("localhost:{port}"),
        };
        Target {
            user: config.get_user().map(str::to_owned),
            address,
            database: config.get_dbname().map(str::to_owned),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        write!(f, "{}", self.address)?;
        if let Some(d) = &self.database {
            write!(f, "/{d}")?;
        }
        Ok(())
    }
}

/// What can go wrong opening a PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL could not be read. The URL itself is not repeated: it may
    /// hold a password.
    #[error(
        "the database URL is not valid ({why}); expected \
         postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, check --db"
    )]
    BadUrl {
        /// What the parser said (it never repeats the password).
        why: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL {target}: {source}; {hint}")]
    Connect {
        /// The database, without password.
        target: Target,
        /// The client's error.
        source: postgres::Error,
        /// What to check.
        hint: String,
    },
    /// Another Homeward process holds this database's writer lock: one
    /// opened alone ([`PgStore::connect`](crate::PgStore::connect)) while
    /// others are open, or any while one is open alone.
    #[error(
        "registry {target} is open in another Homeward process; close it first{}",
        if *shared {
            " (it was opened alone, for maintenance: wait for it to end)"
        } else {
            ", or open every process of this registry shared \
             (PgStore::connect_shared: they follow each other's changes)"
        }
    )]
    Locked {
        /// The database, without password.
        target: Target,
        /// Whether this open asked to share the registry.
        shared: bool,
    },
    /// A job is no longer this worker's to finish: its lease expired and
    /// another worker claimed it, or it was finished already. Nothing of
    /// this completion was written.
    #[error(
        "job {job} is no longer this worker's ({why}); drop its work, nothing of it was \
         written (the worker holding it now records it); claim shorter batches or a longer \
         lease if this recurs"
    )]
    JobLost {
        /// The job's id.
        job: u64,
        /// What happened to it.
        why: &'static str,
    },
    /// Jobs could not be enqueued; none of the batch was.
    #[error("no job of this batch was enqueued: {why}")]
    InvalidJob {
        /// What is wrong and what to do (never the payload itself).
        why: String,
    },
    /// The database holds something else than a Homeward registry.
    #[error(
        "{target} is not a Homeward registry ({why}); point --db to a new, empty database \
         or to a registry"
    )]
    NotARegistry {
        /// The database, without password.
        target: Target,
        /// What gave it away.
        why: String,
    },
    /// The registry was written by a newer Homeward.
    #[error(
        "{target} has PostgreSQL schema version {found}, this build knows up to {supported}; \
         upgrade Homeward"
    )]
    TooNew {
        /// The database, without password.
        target: Target,
        /// Version in the database.
        found: i32,
        /// Newest version known here.
        supported: i32,
    },
    /// The registry has an older schema than this build's and a reader
    /// cannot migrate it.
    #[error(
        "{target} has PostgreSQL schema version {found}, this build reads version {supported}; \
         open it once with this build's writer (any homeward command on the primary) to \
         migrate it, then connect again"
    )]
    NotMigrated {
        /// The database, without password.
        target: Target,
        /// Version in the database.
        found: i32,
        /// The version this build reads.
        supported: i32,
    },
    /// A migration step failed; the step's transaction was rolled back.
    #[error(
        "migrating {target} to schema version {to} failed: {source}; the database is unchanged \
         at version {from}, check the user may create tables"
    )]
    Migrate {
        /// The database, without password.
        target: Target,
        /// Version before the failed step.
        from: i32,
        /// Version the step was to reach.
        to: i32,
        /// The client's error.
        source: postgres::Error,
    },
    /// Transactions older than a purge are still running (they may still
    /// see erased rows, which a rewrite would then keep).
    #[error(
        "{running} transaction(s) in {target} began before the purge and are still running; \
         purge again when they have ended"
    )]
    Busy {
        /// The database, without password.
        target: Target,
        /// How many.
        running: u64,
    },
    /// An index snapshot was not written; the store and its indexes are
    /// as they were.
    #[error(
        "no index snapshot was written under {}: {why}; the registry is unaffected, \
         write one again later",
        path.display()
    )]
    Snapshot {
        /// The snapshots' directory.
        path: std::path::PathBuf,
        /// What failed.
        why: String,
    },
    /// Opening the photo files or loading the index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PgError {
    /// This error where a [`StoreError`] is expected (a trait method of
    /// the core's): a store error as it is, anything else as a database
    /// error naming `target` (never the password).
    pub(crate) fn into_store_error(self, target: &Target) -> StoreError {
        match self {
            PgError::Store(e) => e,
            other => StoreError::Database {
                target: target.to_string(),
                hint: "this store's indexes may be behind the database; refresh again, or reopen \
                       the store"
                    .into(),
                source: Box::new(other),
            },
        }
    }
}

/// What to do about a client error, in a few words.
pub(crate) fn hint(e: &postgres::Error, target: &Target) -> String {
    if e.is_closed() || io_kind(e).is_some() {
        return match io_kind(e) {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                format!("is PostgreSQL running at {}? check --db", target.address)
            }
            Some(std::io::ErrorKind::TimedOut) => format!(
                "no answer from {} in time; check the host, the port and the firewall",
                target.address
            ),
            _ => format!(
                "the connection to {} was lost or could not be made; check PostgreSQL is running \
                 and reopen the store",
                target.address
            ),
        };
    }
    let Some(code) = e.code() else {
        return "check --db and that the server is PostgreSQL".into();
    };
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        "check the user and password in --db (and pg_hba.conf)".into()
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        format!(
            "create the database first (createdb {}) or check --db",
            target.database.as_deref().unwrap_or("NAME")
        )
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        "grant the user rights on the registry's tables".into()
    } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        "the database is read-only (a hot standby?); point --db at the primary, or name both \
         hosts with ?target_session_attrs=read-write; no row was written"
            .into()
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        "the server has no free connection; raise max_connections or close clients".into()
    } else if code.code().starts_with("23") {
        "a row this write refers to is missing or the data breaks a rule; no row was written".into()
    } else if code.code().starts_with("40") {
        "the transaction was rolled back by the server; try again".into()
    } else {
        format!(
            "PostgreSQL refused the statement (SQLSTATE {}); no row was written",
            code.code()
        )
    }
}

fn io_kind(e: &postgres::Error) -> Option<std::io::ErrorKind> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        src = s.source();
    }
    None
}

/// A client error as a [`StoreError`] naming the database without password.
pub(crate) fn store_error(e: postgres::Error, target: &Target) -> StoreError {
    let hint = hint(&e, target);
    StoreError::Database {
        target: target.to_string(),
        source: Box::new(e),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_never_show_the_password() {
        let c: postgres::Config = "postgres://ana:s3cr3t@db.example:6543/reg".parse().unwrap();
        let t = Target::of(&c);
        assert_eq!(t.to_string(), "ana@db.example:6543/reg");
        let c: postgres::Config = "host=/run/pg port=5433 user=u password=pw dbname=d"
            .parse()
            .unwrap();
        assert_eq!(Target::of(&c).to_string(), "u@/run/pg:5433/d");
    }
}
