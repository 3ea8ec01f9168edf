//! Command-line definition: one subcommand per file, its doc comments are the
//! help text, and its argument tests sit beside it.

mod batch;
mod batch_queue;
mod batch_server;
mod case;
mod case_life;
mod db;
mod demo;
mod dupes;
mod embed;
mod eval;
mod hash;
mod human;
mod init;
mod models;
mod review;
mod search;
mod serve;
mod sighting;
mod worker;

pub use crate::error::{CliError, Outcome};

use clap::{Parser, Subcommand};

/// Match photos of children seen on the street against a registry of missing
/// children. Homeward ranks candidates for a person to review; it never
/// declares a match by itself.
#[derive(Debug, Parser)]
#[command(name = "homeward", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Embed(embed::EmbedArgs),
    Hash(hash::HashArgs),
    Dupes(dupes::DupesArgs),
    #[command(subcommand)]
    Case(case::CaseCommand),
    #[command(subcommand)]
    Sighting(sighting::SightingCommand),
    Search(search::SearchArgs),
    #[command(subcommand)]
    Review(review::ReviewCommand),
    Batch(batch::BatchArgs),
    Worker(worker::WorkerArgs),
    #[command(subcommand)]
    Models(models::ModelsCommand),
    Demo(demo::DemoArgs),
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    Serve(serve::ServeArgs),
}

pub fn run(cli: Cli) -> Result<Outcome, CliError> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .map_err(|e| CliError::Usage(format!("cannot set up {n} threads: {e}")))?;
    }
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Embed(args) => embed::run(&args),
        Command::Hash(args) => hash::run(&args),
        Command::Dupes(args) => dupes::run(&args),
        Command::Case(cmd) => case::run(cmd),
        Command::Sighting(cmd) => sighting::run(cmd),
        Command::Search(args) => search::run(&args),
        Command::Review(cmd) => review::run(cmd),
        Command::Batch(args) => batch::run(&args),
        Command::Worker(args) => worker::run(&args),
        Command::Models(cmd) => models::run(cmd),
        Command::Demo(args) => demo::run(&args),
        Command::Eval(cmd) => eval::run(cmd),
        Command::Serve(args) => serve::run(&args),
    }
}
