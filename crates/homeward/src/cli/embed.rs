//! `homeward embed`: faces, landmarks and embeddings of photos, from dlib's
//! model, SFace or both (`--model`).

use std::path::PathBuf;

use clap::Args;
use homeward_core::faces::FaceEngine;
use homeward_core::intake;
use rayon::prelude::*;

use super::{CliError, Outcome};
use crate::face_args::{FaceArgs, FaceModel};
use crate::output::{self, terminal_safe, ImageReport};

/// Find every face in each photo and print its box, detection score, five
/// landmarks and embedding (see --model). Directories are walked for image files.
/// An unreadable photo is reported and the run goes on; the exit code is then 1.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Photos or directories of photos.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per line per photo:
    /// {"path","width","height","faces":[{"box","score","landmarks","embedding"}]},
    /// or {"path","error"} when the photo could not be read.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub face: FaceArgs,
    /// The embedding printed: dlib (128-d, compare by Euclidean distance),
    /// sface (128-d, scaled to length 1: compare by Euclidean distance or dot
    /// product), or fusion (256-d: dlib's and SFace's, each scaled to length 1,
    /// one after the other).
    #[arg(long, value_enum, default_value_t = FaceModel::Dlib)]
    pub model: FaceModel,
}

pub fn run(args: &EmbedArgs) -> Result<Outcome, CliError> {
    let engine = FaceEngine::bundled()?;
    let sface = args.model.load_sface()?;
    let (files, mut failed) = output::expand_paths(&args.paths, args.json);
    let limits = args.face.limits();
    let options = args.face.options();
    // Photos are decoded and analysed in parallel a batch at a time, and
    // printed in input order.
    let batch = rayon::current_num_threads() * 4;
    for chunk in files.chunks(batch) {
        let reports: Vec<ImageReport> = chunk
            .par_iter()
            .map(|path| match intake::load_path(path, &limits) {
                Ok(photo) => {
                    let faces = engine.analyze(&photo.image, &options);
                    let mut report = ImageReport::from_faces(path, &photo.image, &faces);
                    if let (Some(sface), Some(reports)) = (&sface, report.faces.as_mut()) {
                        let marks: Vec<_> = faces.iter().map(|f| f.landmarks).collect();
                        let vectors = sface.embed_faces(&photo.image, &marks, args.face.flip);
                        for ((r, f), s) in reports.iter_mut().zip(&faces).zip(&vectors) {
                            r.embedding = args.model.vector(&f.embedding, Some(s));
                        }
                    }
                    report
                }
                Err(e) => ImageReport::error(path, e.to_string()),
            })
            .collect();
        for report in &reports {
            failed |= report.error.is_some();
            let line = if args.json {
                report.to_json()
            } else {
                report.to_text()
            };
            output::write_stdout(&format!("{}\n", terminal_safe(&line)));
        }
    }
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn parses_flags() {
        let cli = Cli::try_parse_from([
            "homeward",
            "embed",
            "--json",
            "--upsample",
            "2",
            "--jitter",
            "5",
            "--flip",
            "a.jpg",
            "dir",
        ])
        .unwrap();
        let Command::Embed(args) = cli.command else {
            panic!("not embed")
        };
        assert!(args.json && args.face.flip);
        assert_eq!(args.model, super::FaceModel::Dlib);
        assert_eq!(
            (args.face.analysis.upsample, args.face.analysis.jitter),
            (2, 5)
        );
        assert_eq!(args.paths.len(), 2);
    }

    #[test]
    fn parses_the_model() {
        for (name, model) in [
            ("dlib", super::FaceModel::Dlib),
            ("sface", super::FaceModel::Sface),
            ("fusion", super::FaceModel::Fusion),
        ] {
            let cli = Cli::try_parse_from(["homeward", "embed", "--model", name, "a.jpg"]).unwrap();
            let Command::Embed(args) = cli.command else {
                panic!("not embed")
            };
            assert_eq!(args.model, model);
        }
        assert!(Cli::try_parse_from(["homeward", "embed", "--model", "arcface", "a.jpg"]).is_err());
    }

    #[test]
    fn model_vectors_have_their_lengths_and_scales() {
        use homeward_core::faces::Embedding;
        use homeward_core::sface::SFaceEmbedding;
        let d = Embedding([0.1; 128]);
        let s = SFaceEmbedding([3.0; 128]);
        assert_eq!(super::FaceModel::Dlib.vector(&d, Some(&s)), d.0.to_vec());
        let v = super::FaceModel::Sface.vector(&d, Some(&s));
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert_eq!(v.len(), 128);
        assert!((norm - 1.0).abs() < 1e-5);
        let v = super::FaceModel::Fusion.vector(&d, Some(&s));
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert_eq!(v.len(), 256);
        assert!((norm - 2f32.sqrt()).abs() < 1e-5);
    }

    #[test]
    fn refuses_upsample_above_two_and_no_paths() {
        assert!(Cli::try_parse_from(["homeward", "embed", "--upsample", "3", "a.jpg"]).is_err());
        assert!(Cli::try_parse_from(["homeward", "embed"]).is_err());
    }
}
