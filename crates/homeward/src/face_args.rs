//! Face options of the commands: a leaf module shared by `cli` and `eval`
//! (it imports no other front module).

use clap::Args;
use homeward_core::dlib::ModelError;
use homeward_core::faces::{DetectOptions, EmbedOptions, Embedding, FaceOptions};
use homeward_core::intake::Limits;
use homeward_core::sface::{self, SFace, SFaceEmbedding};
use homeward_match::ranking::Models;
use homeward_match::Analysis;

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
    /// Name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaceModel::Dlib => "dlib",
            FaceModel::Sface => "sface",
            FaceModel::Fusion => "fusion",
        }
    }

    /// The ranking's reading of this choice: which model(s) score a pair.
    pub fn ranking(self) -> Models {
        match self {
            FaceModel::Dlib => Models::Dlib,
            FaceModel::Sface => Models::Sface,
            FaceModel::Fusion => Models::Fusion,
        }
    }

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
    pub fn load_sface(self) -> Result<Option<SFace>, ModelError> {
        Ok(if self.needs_sface() {
            Some(SFace::bundled()?)
        } else {
            None
        })
    }
}

/// How the registry commands (`case`, `sighting`, `search`, `batch`,
/// `serve`) read photos: the library's one [`Analysis`]. Embeddings are
/// always flip-averaged there, so these commands have no `--flip`.
#[derive(Debug, Args, Clone)]
pub struct AnalysisArgs {
    /// Times to double the photo before detecting (0-2): 1 finds faces down to
    /// about 40 px, 2 down to about 20 px, each at four times the cost.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub upsample: u8,
    /// Average the embeddings of N randomly perturbed copies of each face
    /// (dlib's num_jitters; 0 or 1 = off).
    #[arg(long, default_value_t = 0)]
    pub jitter: u32,
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

impl AnalysisArgs {
    pub fn detect(&self) -> DetectOptions {
        DetectOptions {
            upsample: self.upsample,
            max_pixels: self.detect_max_pixels,
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_bytes,
            max_pixels: self.max_pixels,
            max_analysis_bytes: self.max_analysis_mib.saturating_mul(1 << 20),
            detect: self.detect(),
            ..Limits::default()
        }
    }

    /// The library's analysis settings (flip averaging always on).
    pub fn analysis(&self) -> Analysis {
        Analysis {
            limits: self.limits(),
            detect: self.detect(),
            jitter: self.jitter,
        }
    }
}

/// Face pipeline options of the commands that study faces rather than match
/// them (`embed`, `hash`, `dupes`, `eval`): the registry's [`AnalysisArgs`]
/// plus `--flip`. Flip averaging stays a switch here because these commands
/// measure it (`eval lfw`/`eval search` with and without) and because
/// `embed` without it gives dlib's own output, which the golden tests and
/// benchmarks compare against.
#[derive(Debug, Args, Clone)]
pub struct FaceArgs {
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Average each face's embedding with that of its mirror image (the
    /// registry commands and the server always do).
    #[arg(long)]
    pub flip: bool,
}

impl FaceArgs {
    pub fn limits(&self) -> Limits {
        self.analysis.limits()
    }

    pub fn options(&self) -> FaceOptions {
        FaceOptions {
            detect: self.analysis.detect(),
            embed: EmbedOptions {
                jitter: self.analysis.jitter,
                flip: self.flip,
            },
        }
    }
}
