//! `homeward hash`: the perceptual hashes of photos (PDQ for the whole photo,
//! one chip hash per face), from the library's `PhotoHasher`.

use std::path::{Path, PathBuf};

use clap::Args;
use homeward_core::hash::PdqDihedral;
use homeward_core::intake;
use homeward_match::hashing::{PhotoHasher, PhotoHashes};
use rayon::prelude::*;
use serde::Serialize;

use super::{CliError, Outcome};
use crate::face_args::FaceArgs;
use crate::output::{self, terminal_safe};

/// Print each photo's PDQ hash (64 hex digits) and quality, and one face-chip
/// hash per face found, with its box. A photo under 32 px on a side cannot be
/// hashed meaningfully and is reported as an error (exit code 1). Directories
/// are walked for image files. --jitter and --flip do not affect hashes.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Photos or directories of photos.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per line per photo:
    /// {"path","width","height","pdq","quality","faces":[{"box","score","chip","chip_mirrored"}]}
    /// ("chip" is null and "chip_error" says why when a face's chip is too flat),
    /// or {"path","error"} when the photo could not be read or hashed.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub face: FaceArgs,
}

#[derive(Debug, Serialize)]
struct FaceLine {
    #[serde(rename = "box")]
    bbox: [i64; 4],
    score: f64,
    chip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chip_mirrored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chip_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct HashLine {
    path: String,
    width: u32,
    height: u32,
    pdq: String,
    quality: u8,
    faces: Vec<FaceLine>,
}

impl HashLine {
    fn new(path: &Path, h: &PhotoHashes) -> Self {
        HashLine {
            path: path.display().to_string(),
            width: h.width,
            height: h.height,
            pdq: h.pdq.hashes[PdqDihedral::ORIGINAL].to_hex(),
            quality: h.pdq.quality,
            faces: h
                .faces
                .iter()
                .map(|f| FaceLine {
                    bbox: [f.rect.left, f.rect.top, f.rect.right, f.rect.bottom],
                    score: f.score,
                    chip: f.chip.as_ref().ok().map(|c| c.hash.to_hex()),
                    chip_mirrored: f.chip.as_ref().ok().map(|c| c.mirrored.to_hex()),
                    chip_error: f.chip.as_ref().err().map(|e| e.to_string()),
                })
                .collect(),
        }
    }

    fn to_text(&self) -> String {
        let mut s = format!(
            "{}: {}x{}, pdq {} quality {}{}",
            self.path,
            self.width,
            self.height,
            self.pdq,
            self.quality,
            if !homeward_match::policy::pdq_usable(self.quality) {
                " (low: too flat to match on)"
            } else {
                ""
            }
        );
        for (i, f) in self.faces.iter().enumerate() {
            let [l, t, r, b] = f.bbox;
            let chip = match (&f.chip, &f.chip_error) {
                (Some(c), _) => format!("chip {c}"),
                (None, Some(e)) => format!("no chip hash: {e}"),
                (None, None) => "no chip hash".into(),
            };
            s.push_str(&format!("\n  face {i}: box ({l},{t})-({r},{b}) {chip}"));
        }
        s
    }
}

/// Prints one photo-level failure as `{"path","error"}` or text.
pub fn error_line(path: &Path, error: &str, json: bool) -> String {
    let report = output::ImageReport::error(path, error.to_string());
    if json {
        report.to_json()
    } else {
        report.to_text()
    }
}

/// Loads and hashes one photo; the error is the user-facing message.
pub fn load_and_hash(
    hasher: &PhotoHasher,
    path: &Path,
    limits: &intake::Limits,
) -> Result<PhotoHashes, String> {
    let photo = intake::load_path(path, limits).map_err(|e| e.to_string())?;
    hasher.hash(&photo.image).map_err(|e| e.to_string())
}

pub fn run(args: &HashArgs) -> Result<Outcome, CliError> {
    let hasher = PhotoHasher::bundled(args.face.options().detect)?;
    let (files, mut failed) = output::expand_paths(&args.paths, args.json);
    let limits = args.face.limits();
    let batch = rayon::current_num_threads() * 4;
    for chunk in files.chunks(batch) {
        let lines: Vec<(bool, String)> = chunk
            .par_iter()
            .map(|path| match load_and_hash(&hasher, path, &limits) {
                Ok(h) => {
                    let line = HashLine::new(path, &h);
                    let text = if args.json {
                        serde_json::to_string(&line).unwrap_or_default()
                    } else {
                        line.to_text()
                    };
                    (false, text)
                }
                Err(e) => (true, error_line(path, &e, args.json)),
            })
            .collect();
        for (bad, line) in &lines {
            failed |= *bad;
            output::write_stdout(&format!("{}\n", terminal_safe(line)));
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
    fn parses_paths_and_face_options() {
        let cli = Cli::try_parse_from([
            "homeward",
            "hash",
            "--json",
            "--upsample",
            "0",
            "a.jpg",
            "d",
        ])
        .unwrap();
        let Command::Hash(args) = cli.command else {
            panic!("not hash")
        };
        assert!(args.json);
        assert_eq!(args.face.analysis.upsample, 0);
        assert_eq!(args.paths.len(), 2);
        assert!(Cli::try_parse_from(["homeward", "hash"]).is_err());
    }
}
