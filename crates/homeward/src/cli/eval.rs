//! `homeward eval`: accuracy measurements on labelled datasets.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use homeward_core::faces::FaceEngine;

use super::embed::FaceArgs;
use super::{CliError, Outcome};
use crate::eval::lfw;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    Lfw(LfwArgs),
    Search(crate::eval::search::SearchArgs),
    LfwManifest(crate::eval::search::LfwManifestArgs),
}

/// Face verification accuracy on LFW, standard View-2 protocol: 10 folds of
/// 300 matched and 300 mismatched pairs from pairs.txt; each fold's distance
/// threshold is chosen on the other nine. Prints the mean accuracy and its
/// standard deviation.
#[derive(Debug, Args)]
pub struct LfwArgs {
    /// Directory holding pairs.txt and <Name>/<Name>_NNNN.jpg.
    #[arg(long)]
    pub root: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub face: FaceArgs,
}

pub fn run(cmd: EvalCommand) -> Result<Outcome, CliError> {
    match cmd {
        EvalCommand::Lfw(args) => {
            let engine = FaceEngine::bundled()?;
            let report = lfw::evaluate(
                &engine,
                &args.root,
                &args.face.limits(),
                &args.face.options(),
            )?;
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("{}", report.to_text());
            }
            Ok(Outcome::Success)
        }
        EvalCommand::Search(args) => crate::eval::search::run_search(&args),
        EvalCommand::LfwManifest(args) => crate::eval::search::run_lfw_manifest(&args),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn lfw_needs_root() {
        assert!(Cli::try_parse_from(["homeward", "eval", "lfw"]).is_err());
        let cli =
            Cli::try_parse_from(["homeward", "eval", "lfw", "--root", "d", "--upsample", "0"])
                .unwrap();
        assert!(matches!(cli.command, Command::Eval(_)));
    }
}
