//! How a command ends: a leaf module every front module may use (it imports
//! no front module but `report`'s error).

use homeward_match::MatchError;

/// How a run ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The run went on past failed inputs; the exit code is 1.
    SomeFailed,
}

/// A fatal error: printed once by `main`, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Model(#[from] homeward_core::dlib::ModelError),
    #[error("{0}")]
    Usage(String),
    /// `--db` names a directory that holds no registry.
    #[error("no registry at {dir}; run `homeward init --db {dir}` or pass --create")]
    NoRegistry { dir: String },
    /// `homeward init` was pointed at a directory that holds other files.
    #[error(
        "{dir} is not empty and holds no registry; give `homeward init --db` a new or empty directory"
    )]
    NotEmpty { dir: String },
    #[error("{0}")]
    Matching(#[from] MatchError),
    /// A PostgreSQL registry could not be reached or refused the open.
    #[error(transparent)]
    Postgres(#[from] homeward_pg::PgError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<homeward_core::store::StoreError> for CliError {
    fn from(e: homeward_core::store::StoreError) -> Self {
        CliError::Matching(e.into())
    }
}
