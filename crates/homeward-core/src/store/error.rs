//! Errors of the registry store.

use std::path::PathBuf;

/// What can go wrong in the registry store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("I/O on {path}: {source}; check the path, permissions and free space")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A database server (PostgreSQL) reported an error. `target` names the
    /// database without its password; `hint` says what to do.
    #[error("database {target}: {source}; {hint}")]
    Database {
        /// `user@host:port/database`, never a password.
        target: String,
        /// The client's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// What to check or do.
        hint: String,
    },
    /// Another process has the registry open.
    #[error(
        "registry {path} is open in {holder}; wait for it to finish or stop it first \
         (a running `homeward serve` keeps its registry open: use its web pages, or stop it)"
    )]
    Locked {
        /// The registry directory.
        path: PathBuf,
        /// Who holds it, as that process described itself ("another
        /// process" when it did not).
        holder: String,
    },
    /// The file is not a Homeward registry.
    #[error(
        "{path} is not a Homeward registry ({why}); point to a registry directory or an empty one"
    )]
    NotARegistry {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        why: String,
    },
    /// The registry was written by a newer Homeward.
    #[error(
        "{path} has schema version {found}, this build knows up to {supported}; upgrade Homeward"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        supported: i64,
    },
    /// A referenced row does not exist.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of row.
        what: &'static str,
        /// Its id.
        id: u64,
    },
    /// A row with this unique name exists already.
    #[error("{what} `{name}` already exists; choose another name")]
    Exists {
        /// The kind of row.
        what: &'static str,
        /// The name that is taken.
        name: String,
    },
    /// An input value is not acceptable.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// The store cannot do this (a feature of one store kind only).
    #[error("{what} is not available on this registry store; {hint}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A stored row breaks the schema's rules (written by a damaged or
    /// foreign program).
    #[error("the registry holds a damaged {what}: {why}; restore it from a backup")]
    Corrupt {
        /// The kind of row.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The audit log cannot be changed.
    #[error("the audit log is append-only: {0}")]
    AuditAppendOnly(String),
    /// An export is damaged or of an unknown format.
    #[error("export {path} cannot be imported: {why}")]
    BadExport {
        /// The export directory or file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The face index failed.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
