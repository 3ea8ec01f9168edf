//! `homeward models`: the face models a registry uses, and adding one
//! (which re-embeds the stored photos, resumably).

use clap::{Args, Subcommand};
use homeward_core::faces::FaceEngine;
use homeward_core::store::ModelStatus;
use homeward_match::models::{self, ReembedProgress};
use homeward_match::Policy;
use serde_json::json;

use super::case::DbArgs;
use super::human::{Align, Table};
use super::{CliError, Outcome};
use crate::output::outln;

/// The face models of a registry. dlib's is always there (its detector and
/// landmarks find and align every face); a new registry also enables SFace,
/// and the ranking fuses the two. A registry made before SFace existed
/// keeps dlib alone until `models add sface`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models with how many stored faces have each one's vector.
    List(ListArgs),
    /// Enable a model and give every stored face its vector. Safe to stop:
    /// each batch is committed, and running it again goes on where it
    /// stopped. Searches use the model for every face that has its vector.
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The model: sface.
    pub name: String,
    /// Faces per transaction.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub batch: u32,
    /// Embed at most this many faces now (the rest on a later run, or by
    /// `homeward serve` in the background); default all.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(cmd: ModelsCommand) -> Result<Outcome, CliError> {
    match cmd {
        ModelsCommand::List(a) => list(&a),
        ModelsCommand::Add(a) => add(&a),
    }
}

fn policy() -> Result<Policy, CliError> {
    Policy::shipped().map_err(|e| CliError::Matching(e.into()))
}

fn list(a: &ListArgs) -> Result<Outcome, CliError> {
    let m = a.db.matcher(policy()?)?;
    let reg = m.registry();
    let status = reg.model_status()?;
    let dlib_faces = reg.index().len();
    if a.db.json {
        let rows: Vec<_> = status.iter().map(status_json).collect();
        outln!(
            "{}",
            json!({"dlib": {"version": FaceEngine::MODEL_ID, "case_faces": dlib_faces}, "models": rows})
        );
        return Ok(Outcome::Success);
    }
    let mut t = Table::new(&[
        ("model", Align::Left),
        ("version", Align::Left),
        ("case faces", Align::Right),
        ("sighting faces", Align::Right),
    ]);
    t.row(vec![
        "dlib".into(),
        FaceEngine::MODEL_ID.into(),
        "all".into(),
        "all".into(),
    ]);
    for s in &status {
        t.row(vec![
            s.spec.name.clone(),
            s.spec.version.clone(),
            format!("{}/{}", s.case_faces.1, s.case_faces.0),
            format!("{}/{}", s.sighting_faces.1, s.sighting_faces.0),
        ]);
    }
    for line in t.lines() {
        outln!("{line}");
    }
    if status.is_empty() {
        outln!(
            "ranking with dlib alone; `homeward models add sface --db {}` adds SFace, \
             which ranks children better (README, \"Children across the years\")",
            a.db.at.db
        );
    } else if status.iter().any(|s| !s.complete()) {
        outln!(
            "faces without a vector are scored by dlib alone; `homeward models add NAME` goes on"
        );
    }
    Ok(Outcome::Success)
}

fn status_json(s: &ModelStatus) -> serde_json::Value {
    json!({
        "name": s.spec.name,
        "version": s.spec.version,
        "dim": s.spec.dim,
        "metric": s.spec.metric.as_str(),
        "case_faces": s.case_faces.0,
        "case_faces_with_vector": s.case_faces.1,
        "sighting_faces": s.sighting_faces.0,
        "sighting_faces_with_vector": s.sighting_faces.1,
    })
}

fn add(a: &AddArgs) -> Result<Outcome, CliError> {
    let spec = models::known_model(&a.name)?;
    let embedder = models::bundled(&spec.name)?;
    let mut m = a.db.matcher(policy()?)?;
    m.add_model(&a.db.actor(), &spec.name)?;
    let budget = a.limit.unwrap_or(usize::MAX);
    let batch = a.batch as usize;
    // Report after each few batches, so a long job shows it is moving.
    let mut total = ReembedProgress::default();
    loop {
        let step = m.reembed(
            embedder.as_ref(),
            budget.saturating_sub(total.embedded).min(batch * 8),
            batch,
        )?;
        total.embedded += step.embedded;
        total.unreadable += step.unreadable;
        total.left = step.left;
        if !a.db.json && step.embedded > 0 {
            eprintln!(
                "homeward models add: {} face(s) embedded, {} left",
                total.embedded, total.left
            );
        }
        if step.embedded == 0 || total.left == 0 || total.embedded >= budget {
            break;
        }
    }
    m.close()?;
    if a.db.json {
        outln!(
            "{}",
            json!({"model": spec.name, "version": spec.version, "embedded": total.embedded,
                   "unreadable": total.unreadable, "left": total.left})
        );
    } else {
        outln!(
            "{} enabled ({}); {} face(s) embedded now, {} left",
            spec.name,
            spec.version,
            total.embedded,
            total.left
        );
        if total.unreadable > 0 {
            outln!(
                "{} face(s) could not be embedded: their photo file did not read back; \
                 check the registry's photos folder (they stay scored by dlib alone)",
                total.unreadable
            );
        }
        if total.left > 0 && total.unreadable == 0 {
            outln!("run the same command again to go on (searches meanwhile score those faces by dlib alone)");
        }
    }
    Ok(Outcome::Success)
}
