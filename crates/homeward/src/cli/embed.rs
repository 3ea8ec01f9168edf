//! `homeward embed`: faces, landmarks and embeddings of photos, from dlib's
//! model, SFace or both (`--model`).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use homeward_core::faces::{DetectOptions, EmbedOptions, Embedding, FaceEngine, FaceOptions};
use homeward_core::intake::{self, Limits};
use homeward_core::sface::{self, SFace, SFaceEmbedding};
use rayon::prelude::*;

use super::{CliError, Outcome};
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

/// Which face embedding model a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceModel {
    /// dlib's ResNet (150×150 chip).
    #[default]
    Dlib,
    /// SFace, a MobileFaceNet (112×112 five-point template), aligned from
    /// dlib's landmarks.
    Sface,
    /// Both: the two embeddings, each of length 1, concatenated.
    Fusion,
}

impl FaceModel {
    /// Whether SFace has to be loaded and run.
    pub fn needs_sface(self) -> bool {
        self != FaceModel::Dlib
    }

    /// The vector this model compares by Euclidean distance; `sface` is
    /// needed (and only used) for sface and fusion.
    pub fn vector(self, dlib: &Embedding, sface: Option<&SFaceEmbedding>) -> Vec<f32> {
        match (self, sface) {
            (FaceModel::Sface, Some(s)) => s.normalized().to_vec(),
            (FaceModel::Fusion, Some(s)) => sface::fuse(dlib, s),
            _ => dlib.0.to_vec(),
        }
    }

    /// SFace when this model needs it, from the models built into the binary.
    pub fn load_sface(self) -> Result<Option<SFace>, CliError> {
        Ok(if self.needs_sface() {
            Some(SFace::bundled()?)
        } else {
            None
        })
    }
}

/// Face pipeline options shared by the commands that analyse photos.
#[derive(Debug, Args, Clone)]
pub struct FaceArgs {
    /// Times to double the photo before detecting (0-2): 1 finds faces down to
    /// about 40 px, 2 down to about 20 px, each at four times the cost.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub upsample: u8,
    /// Average the embeddings of N randomly perturbed copies of each face
    /// (dlib's num_jitters; 0 or 1 = off).
    #[arg(long, default_value_t = 0)]
    pub jitter: u32,
    /// Average each face's embedding with that of its mirror image.
    #[arg(long)]
    pub flip: bool,
    /// Refuse photos larger than this many bytes.
    #[arg(long, default_value_t = 50_000_000)]
    pub max_bytes: u64,
    /// Refuse photos with more pixels than this (checked before decoding).
    #[arg(long, default_value_t = 50_000_000)]
    pub max_pixels: u64,
    /// Largest image the detector sees after upsampling, in pixels; beyond it
    /// upsampling is reduced or the photo scaled down for detection.
    #[arg(long, default_value_t = 16_000_000)]
    pub detect_max_pixels: u64,
    /// Refuse photos whose analysis would need more memory than this, in MiB
    /// (estimated from the image header before decoding).
    #[arg(long, default_value_t = homeward_core::intake::DEFAULT_MAX_ANALYSIS_BYTES >> 20)]
    pub max_analysis_mib: u64,
}

impl FaceArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_bytes,
            max_pixels: self.max_pixels,
            max_analysis_bytes: self.max_analysis_mib.saturating_mul(1 << 20),
            detect: self.options().detect,
            ..Limits::default()
        }
    }

    pub fn options(&self) -> FaceOptions {
        FaceOptions {
            detect: DetectOptions {
                upsample: self.upsample,
                max_pixels: self.detect_max_pixels,
            },
            embed: EmbedOptions {
                jitter: self.jitter,
                flip: self.flip,
            },
        }
    }
}

pub fn run(args: &EmbedArgs) -> Result<Outcome, CliError> {
    let engine = FaceEngine::bundled()?;
    let sface = args.model.load_sface()?;
    let (files, mut failed) = output::expand_paths(&args.paths, args.json);
    let limits = args.face.limits();
    let options = args.face.options();
    let stdout = std::io::stdout();
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
        let mut out = stdout.lock();
        for report in &reports {
            failed |= report.error.is_some();
            let line = if args.json {
                report.to_json()
            } else {
                report.to_text()
            };
            if writeln!(out, "{}", terminal_safe(&line)).is_err() {
                return Ok(Outcome::SomeFailed); // stdout closed (e.g. piped to head)
            }
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
        assert_eq!((args.face.upsample, args.face.jitter), (2, 5));
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
