//! `--db`: where the registry is (a directory for SQLite, or a
//! `postgres://` URL), read from the flag or `HOMEWARD_DB`, and how each
//! registry command opens it.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use homeward_core::store::{MatchStore, Registry};
use homeward_match::{Matcher, Policy};
use homeward_pg::PgStore;

use super::CliError;

/// The file that makes a directory a registry (`homeward_core::store`
/// keeps its database there); its absence means "no registry here".
pub const REGISTRY_FILE: &str = "registry.sqlite";

/// Whether `dir` holds a registry.
pub fn is_registry(dir: &Path) -> bool {
    dir.join(REGISTRY_FILE).is_file()
}

/// Where a registry is. The URL's password never reaches `Debug`,
/// `Display` or an error.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryAt {
    /// A directory holding a SQLite registry.
    Dir(PathBuf),
    /// A PostgreSQL database, shared by any number of processes.
    Postgres(String),
}

impl RegistryAt {
    /// Reads `--db`: a `postgres://` or `postgresql://` URL, else a
    /// directory.
    pub fn parse(s: &str) -> Result<RegistryAt, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("give a registry directory or a postgres:// URL".into());
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(RegistryAt::Postgres(t.to_string()))
        } else {
            Ok(RegistryAt::Dir(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for RegistryAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryAt::Dir(d) => write!(f, "{}", d.display()),
            RegistryAt::Postgres(url) => write!(f, "{}", redact(url)),
        }
    }
}

impl fmt::Debug for RegistryAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryAt({self})")
    }
}

/// The URL without its password (`postgres://user:***@host/db`), and
/// without any `password=` query parameter.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (auth, tail) = match rest.find('@') {
        Some(at) if !rest[..at].contains('/') => (&rest[..at], &rest[at..]),
        _ => ("", rest),
    };
    let auth = match auth.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => auth.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", kept.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{auth}{tail}")
}

/// `--db` and `--photo-root`: where a registry is, for every command that
/// opens one (`init` included).
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Registry: a directory made by `homeward init` (or by --create), or a
    /// `postgres://user:password@host/database` URL shared by several
    /// processes.
    #[arg(
        long,
        env = "HOMEWARD_DB",
        hide_env_values = true,
        default_value = "./homeward-data",
        value_parser = RegistryAt::parse
    )]
    pub db: RegistryAt,
    /// Where a PostgreSQL registry keeps its photo files (shared storage
    /// when several machines write). Needed with a postgres:// --db.
    #[arg(long, env = "HOMEWARD_PHOTO_ROOT")]
    pub photo_root: Option<PathBuf>,
}

impl RegistryArgs {
    /// The photo root a PostgreSQL registry needs, or what to give.
    pub fn photo_root(&self) -> Result<&Path, CliError> {
        self.photo_root.as_deref().ok_or_else(|| {
            CliError::Usage(
                "a postgres:// registry keeps its photos in files: give --photo-root DIR \
                 (or set HOMEWARD_PHOTO_ROOT), the same directory for every process"
                    .into(),
            )
        })
    }

    /// Opens the registry without checking that one exists there (a new
    /// one is made). A PostgreSQL registry is opened shared, so servers
    /// and workers may have it open too.
    pub fn open_or_create(&self) -> Result<Box<dyn MatchStore + Send>, CliError> {
        match &self.db {
            RegistryAt::Dir(d) => Ok(Box::new(
                Registry::open(d).map_err(|e| CliError::Matching(e.into()))?,
            )),
            RegistryAt::Postgres(url) => {
                Ok(Box::new(PgStore::connect_shared(url, self.photo_root()?)?))
            }
        }
    }

    /// Whether a registry is there (asked without creating one).
    pub fn exists(&self) -> Result<bool, CliError> {
        Ok(match &self.db {
            RegistryAt::Dir(d) => is_registry(d),
            RegistryAt::Postgres(url) => homeward_pg::registry_exists(url)?,
        })
    }
}

/// Where the registry lives and how results are printed; shared by the
/// registry commands.
#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    #[command(flatten)]
    pub at: RegistryArgs,
    /// Create the registry when --db holds none. Without it a --db that
    /// holds no registry is an error, so a mistyped path cannot start an
    /// empty registry and report no matches.
    #[arg(long)]
    pub create: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Who acts, for the audit log (default: $USER, else "cli").
    #[arg(long)]
    pub actor: Option<String>,
}

impl DbArgs {
    /// Refuses a --db that holds no registry, unless --create was given.
    pub fn check(&self) -> Result<(), CliError> {
        if self.create || self.at.exists()? {
            Ok(())
        } else {
            Err(CliError::NoRegistry {
                dir: self.at.db.to_string(),
            })
        }
    }

    /// The registry, checked (see [`DbArgs::check`]).
    pub fn open(&self) -> Result<Box<dyn MatchStore + Send>, CliError> {
        self.check()?;
        self.at.open_or_create()
    }

    /// The registry with its duplicate index, under `policy`.
    pub fn matcher(&self, policy: Policy) -> Result<Matcher, CliError> {
        Ok(Matcher::from_store(self.open()?, policy)?)
    }

    pub fn actor(&self) -> String {
        self.actor
            .clone()
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "cli".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_the_rest_directories() {
        assert_eq!(
            RegistryAt::parse("postgres://u:p@h/db"),
            Ok(RegistryAt::Postgres("postgres://u:p@h/db".into()))
        );
        assert!(matches!(
            RegistryAt::parse("PostgreSQL://h/db"),
            Ok(RegistryAt::Postgres(_))
        ));
        assert_eq!(
            RegistryAt::parse("./data"),
            Ok(RegistryAt::Dir(PathBuf::from("./data")))
        );
        assert!(RegistryAt::parse("  ").is_err());
    }

    #[test]
    fn the_password_never_shows() {
        let at = RegistryAt::parse(
            "postgres://ann:s3cret@db.example:5433/reg?password=x&sslmode=disable",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for shown in [at.to_string(), format!("{at:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("password=x"), "{shown}");
            assert!(shown.contains("ann:***@db.example:5433/reg"), "{shown}");
            assert!(shown.contains("sslmode=disable"), "{shown}");
        }
        let plain = RegistryAt::parse("postgres://h/db").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.to_string(), "postgres://h/db");
    }
}
