//! `homeward init`: create an empty registry, the one way (beside
//! `--create`) a registry directory comes to be.

use clap::Args;
use homeward_match::models;
use serde_json::json;

use super::db::{is_registry, RegistryArgs, RegistryAt};
use super::{CliError, Outcome};
use crate::output::outln;

/// Create an empty registry in --db. The registry commands (`case`,
/// `sighting`, `search`, `review`, `batch`) refuse a --db that holds no
/// registry unless it was made here or they are given --create. Running it
/// on an existing registry changes nothing.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub at: RegistryArgs,
    /// Face models of a new registry: `dlib,sface` (the default: the
    /// ranking fuses the two) or `dlib` alone. dlib's always finds and
    /// aligns the faces. `homeward models add` adds one later.
    #[arg(long, value_delimiter = ',', default_value = "dlib,sface")]
    pub models: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &InitArgs) -> Result<Outcome, CliError> {
    let existed = match &a.at.db {
        RegistryAt::Dir(dir) => {
            let existed = is_registry(dir);
            if !existed && dir.exists() {
                refuse_foreign_dir(dir)?;
            }
            existed
        }
        // A database with other tables is refused by the store itself.
        RegistryAt::Postgres(url) => homeward_pg::registry_exists(url)?,
    };
    let mut specs = Vec::new();
    for name in &a.models {
        match name.trim() {
            "dlib" => {}
            other => specs.push(models::known_model(other)?),
        }
    }
    if !a.models.iter().any(|m| m.trim() == "dlib") {
        return Err(CliError::Usage(
            "--models must include dlib: its detector and landmarks find and align every face"
                .into(),
        ));
    }
    let mut reg = a.at.open_or_create()?;
    if !existed {
        let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        reg.enable_models(&actor, &specs)?;
    }
    let cases = reg.case_summaries()?.len();
    let enabled: Vec<String> = std::iter::once("dlib".to_string())
        .chain(reg.models().iter().map(|m| m.name.clone()))
        .collect();
    reg.close()?;
    let dir = a.at.db.to_string();
    if a.json {
        outln!(
            "{}",
            json!({"db": dir, "created": !existed, "cases": cases, "models": enabled})
        );
    } else if existed {
        outln!(
            "a registry is already at {dir} ({cases} case(s), models {}); nothing changed",
            enabled.join(", ")
        );
    } else {
        outln!(
            "registry created at {dir} (face models {})",
            enabled.join(", ")
        );
        outln!("next: homeward case add --db {dir} --name NAME --photo PHOTO --age AGE");
    }
    Ok(Outcome::Success)
}

/// Refuses a directory that holds other files: a registry is made only in
/// a new or empty one.
fn refuse_foreign_dir(dir: &std::path::Path) -> Result<(), CliError> {
    let mut entries = std::fs::read_dir(dir).map_err(|source| CliError::Io {
        context: format!(
            "cannot read {}; give `homeward init --db` a directory you can write",
            dir.display()
        ),
        source,
    })?;
    if entries.next().is_some() {
        return Err(CliError::NotEmpty {
            dir: dir.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::RegistryAt;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_init() {
        let cli = Cli::try_parse_from(["homeward", "init", "--db", "d"]).unwrap();
        let Command::Init(a) = cli.command else {
            panic!("not init")
        };
        assert_eq!(a.at.db, RegistryAt::Dir(std::path::PathBuf::from("d")));
        let cli = Cli::try_parse_from(["homeward", "review", "list", "--create"]).unwrap();
        assert!(matches!(cli.command, Command::Review(_)));
    }
}
