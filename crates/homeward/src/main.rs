//! `homeward`: the command-line front of the Homeward engine.
//!
//! Exit codes: 0 on success; 1 when the run finished but some inputs failed
//! (each failure is reported where it happened); 2 on a usage or fatal error.

// The OpenAPI document (`server/openapi.rs`) is one `json!` literal, deeper
// than the default macro recursion limit allows.
#![recursion_limit = "256"]

mod cli;
mod error;
mod eval;
mod face_args;
mod output;
mod report;
mod server;

use std::process::ExitCode;

use crate::output::errln;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(cli::Outcome::Success) => ExitCode::SUCCESS,
        Ok(cli::Outcome::SomeFailed) => ExitCode::from(1),
        Err(err) => {
            errln!("homeward: {err}");
            ExitCode::from(2)
        }
    }
}
