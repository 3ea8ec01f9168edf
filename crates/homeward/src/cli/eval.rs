//! `homeward eval`: accuracy measurements on labelled datasets.

use crate::output::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use homeward_core::faces::FaceEngine;

use homeward_core::faces::DetectOptions;
use homeward_core::intake::Limits;

use super::{CliError, Outcome};
use crate::eval::sface_points::{SfaceAligner, SfacePoints};
use crate::eval::{dupes, lfw};
use crate::face_args::{FaceArgs, FaceModel};
use homeward_match::hashing::PhotoHasher;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    Lfw(LfwArgs),
    Dupes(DupesEvalArgs),
    Search(crate::eval::search::SearchArgs),
    LfwManifest(crate::eval::search::LfwManifestArgs),
    Detect(crate::eval::detect::DetectArgs),
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
    /// The embedding compared: dlib, sface, or fusion (both, each scaled to
    /// length 1 and concatenated); fusion also scores each model alone.
    #[arg(long, value_enum, default_value_t = FaceModel::Dlib)]
    pub model: FaceModel,
    /// SFace's five points: dlib (derived from dlib's landmarks) or yunet
    /// (YuNet's own points for the face MMOD found; dlib's when YuNet finds
    /// no overlapping face, counted as fallbacks). With yunet, SFace and the
    /// fusion are also scored from dlib's points on the same images.
    #[arg(long, value_enum, default_value_t = SfacePoints::Dlib)]
    pub sface_points: SfacePoints,
}

/// Robustness of the perceptual hashes: every photo under --root is edited
/// 18 ways (JPEG, resize, crop, pad, screenshot frame, rotation, mirror,
/// brightness, contrast, text overlay, blur) and each copy is compared with
/// every original. Per hash (PDQ, face chip, either) prints the threshold
/// at a 0.01 % false-positive rate and the recall of each edit at it, for
/// photos with and without a face.
#[derive(Debug, Args)]
pub struct DupesEvalArgs {
    /// Directory of photos, walked recursively.
    #[arg(long)]
    pub root: PathBuf,
    /// Use only the first N photos in sorted path order.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Times the detector may double a photo (0-2); doubling stops once the
    /// photo would exceed --detect-max-pixels, so only small photos and small
    /// edited copies are upsampled.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub upsample: u8,
    /// Largest image the detector sees after upsampling, in pixels.
    #[arg(long, default_value_t = 200_000)]
    pub detect_max_pixels: u64,
    /// Refuse photos larger than this many bytes.
    #[arg(long, default_value_t = 50_000_000)]
    pub max_bytes: u64,
    /// Refuse photos with more pixels than this (checked before decoding).
    #[arg(long, default_value_t = 50_000_000)]
    pub max_pixels: u64,
    /// Also write every aligned face chip (originals and edits) to this
    /// directory as PNG, for designing hashes offline.
    #[arg(long)]
    pub dump_chips: Option<PathBuf>,
    /// Report recall at this PDQ distance instead of choosing it at a
    /// 0.01 % false-positive rate (for the PDQ column and the combination);
    /// its false positives are printed (e.g. Meta's 31).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub pdq_threshold: Option<u32>,
    /// Report recall at this chip-hash distance instead of choosing it (for
    /// the chip column and the combination).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub chip_threshold: Option<u32>,
}

pub fn run(cmd: EvalCommand) -> Result<Outcome, CliError> {
    match cmd {
        EvalCommand::Lfw(args) => {
            let engine = FaceEngine::bundled()?;
            let sface = args.model.load_sface()?;
            let aligner = sface
                .as_ref()
                .map(|s| SfaceAligner::new(s, args.sface_points))
                .transpose()?;
            let report = lfw::evaluate(
                &engine,
                aligner.as_ref(),
                args.sface_points,
                args.model,
                &args.root,
                &args.face.limits(),
                &args.face.options(),
            )?;
            if args.json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                outln!("{}", report.to_text());
            }
            Ok(Outcome::Success)
        }
        EvalCommand::Dupes(args) => {
            let hasher = PhotoHasher::bundled(DetectOptions {
                upsample: args.upsample,
                max_pixels: args.detect_max_pixels,
            })?;
            let limits = Limits {
                max_file_bytes: args.max_bytes,
                max_pixels: args.max_pixels,
                detect: DetectOptions {
                    upsample: args.upsample,
                    max_pixels: args.detect_max_pixels,
                },
                ..Limits::default()
            };
            let report = dupes::evaluate(
                &hasher,
                &args.root,
                args.limit,
                &limits,
                args.dump_chips.as_deref(),
                dupes::FixedThresholds {
                    pdq: args.pdq_threshold,
                    chip: args.chip_threshold,
                },
            )?;
            if args.json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                outln!("{}", report.to_text());
            }
            Ok(Outcome::Success)
        }
        EvalCommand::Search(args) => crate::eval::search::run_search(&args),
        EvalCommand::LfwManifest(args) => crate::eval::search::run_lfw_manifest(&args),
        EvalCommand::Detect(args) => crate::eval::detect::run(&args),
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
        let Command::Eval(super::EvalCommand::Lfw(args)) = cli.command else {
            panic!("not eval lfw")
        };
        assert_eq!(args.sface_points, super::SfacePoints::Dlib);
        let cli = Cli::try_parse_from([
            "homeward",
            "eval",
            "lfw",
            "--root",
            "d",
            "--model",
            "fusion",
            "--sface-points",
            "yunet",
        ])
        .unwrap();
        let Command::Eval(super::EvalCommand::Lfw(args)) = cli.command else {
            panic!("not eval lfw")
        };
        assert_eq!(args.sface_points, super::SfacePoints::Yunet);
        assert!(Cli::try_parse_from([
            "homeward",
            "eval",
            "lfw",
            "--root",
            "d",
            "--sface-points",
            "mtcnn"
        ])
        .is_err());
    }

    #[test]
    fn dupes_defaults_to_upsampling_only_small_photos() {
        assert!(Cli::try_parse_from(["homeward", "eval", "dupes"]).is_err());
        let cli = Cli::try_parse_from(["homeward", "eval", "dupes", "--root", "d", "--limit", "5"])
            .unwrap();
        let Command::Eval(super::EvalCommand::Dupes(args)) = cli.command else {
            panic!("not eval dupes")
        };
        assert_eq!(
            (args.limit, args.upsample, args.detect_max_pixels),
            (Some(5), 2, 200_000)
        );
        assert_eq!((args.pdq_threshold, args.chip_threshold), (None, None));
        let cli = Cli::try_parse_from([
            "homeward",
            "eval",
            "dupes",
            "--root",
            "d",
            "--pdq-threshold",
            "31",
            "--chip-threshold",
            "64",
        ])
        .unwrap();
        let Command::Eval(super::EvalCommand::Dupes(args)) = cli.command else {
            panic!("not eval dupes")
        };
        assert_eq!(
            (args.pdq_threshold, args.chip_threshold),
            (Some(31), Some(64))
        );
        assert!(Cli::try_parse_from([
            "homeward",
            "eval",
            "dupes",
            "--root",
            "d",
            "--chip-threshold",
            "257"
        ])
        .is_err());
    }
}
