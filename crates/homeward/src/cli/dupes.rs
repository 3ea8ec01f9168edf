//! `homeward dupes`: groups near-duplicate photos (the same picture reposted,
//! re-encoded, cropped, framed or mirrored) by PDQ and face-chip hashes,
//! under the library's one "same photo" rule (`SamePhotoRule`).

use std::path::PathBuf;

use clap::Args;
use homeward_match::hashing::{
    find_links, groups, Link, Matchable, PhotoHasher, Via, PDQ_VARIANTS,
};
use homeward_match::SamePhotoRule;
use rayon::prelude::*;
use serde::Serialize;

use super::hash::{error_line, load_and_hash};
use super::{CliError, Outcome};
use crate::face_args::FaceArgs;
use crate::output::{self, terminal_safe};

/// Group near-duplicate photos: two photos are linked when the PDQ hash of
/// one (or of one of its 8 rotations/mirrorings) is within --pdq-threshold
/// of the other's, or when a face chip hash of one (or of its mirror image)
/// is within --chip-threshold of a face chip of the other. Groups are the
/// connected photos. Each link says which hash matched and at what distance.
/// Photos that cannot be read or hashed are reported and the exit code is 1.
#[derive(Debug, Args)]
pub struct DupesArgs {
    /// Directories (walked recursively) or photos.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per line per group:
    /// {"group","photos":[path],"links":[{"a","b","hash","distance",...}]};
    /// a "pdq" link has "variant" (b looks like a after that rotation or
    /// mirroring), a "chip" link has "face_a", "face_b" and "mirrored".
    /// Failures are {"path","error"}.
    #[arg(long)]
    pub json: bool,
    /// Largest PDQ Hamming distance taken as the same photo.
    #[arg(long, default_value_t = SamePhotoRule::default().pdq_bits, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub pdq_threshold: u32,
    /// Largest face-chip Hamming distance taken as the same face crop.
    #[arg(long, default_value_t = SamePhotoRule::default().chip_bits, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub chip_threshold: u32,
    #[command(flatten)]
    pub face: FaceArgs,
}

#[derive(Debug, Serialize)]
struct LinkLine {
    a: String,
    b: String,
    hash: &'static str,
    distance: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_a: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_b: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirrored: Option<bool>,
}

#[derive(Debug, Serialize)]
struct GroupLine {
    group: usize,
    photos: Vec<String>,
    links: Vec<LinkLine>,
}

impl GroupLine {
    fn to_text(&self) -> String {
        let mut s = format!("group {}: {} photos", self.group, self.photos.len());
        for p in &self.photos {
            s.push_str(&format!("\n  {p}"));
        }
        for l in &self.links {
            let how = match (l.variant, l.face_a, l.face_b, l.mirrored) {
                (Some(v), ..) => format!("PDQ ({v})"),
                (None, Some(fa), Some(fb), Some(m)) => format!(
                    "face chip (face {fa} ~ face {fb}{})",
                    if m { ", mirrored" } else { "" }
                ),
                _ => l.hash.to_string(),
            };
            s.push_str(&format!(
                "\n  link {} ~ {}: {how}, distance {}",
                l.a, l.b, l.distance
            ));
        }
        s
    }
}

fn link_line(l: &Link, names: &[String]) -> LinkLine {
    let (hash, variant, face_a, face_b, mirrored) = match l.via {
        Via::Pdq { variant } => ("pdq", Some(PDQ_VARIANTS[variant]), None, None, None),
        Via::Chip {
            face_a,
            face_b,
            mirrored,
        } => ("chip", None, Some(face_a), Some(face_b), Some(mirrored)),
    };
    LinkLine {
        a: names[l.a].clone(),
        b: names[l.b].clone(),
        hash,
        distance: l.distance,
        variant,
        face_a,
        face_b,
        mirrored,
    }
}

pub fn run(args: &DupesArgs) -> Result<Outcome, CliError> {
    let hasher = PhotoHasher::bundled(args.face.options().detect)?;
    let (files, mut failed) = output::expand_paths(&args.paths, args.json);
    let limits = args.face.limits();
    let hashed: Vec<Result<Matchable, String>> = files
        .par_iter()
        .map(|p| load_and_hash(&hasher, p, &limits).map(|h| Matchable::of(&h)))
        .collect();
    let mut photos = Vec::with_capacity(files.len());
    let mut low_quality = 0;
    for (path, h) in files.iter().zip(hashed) {
        match h {
            Ok(m) => {
                low_quality += usize::from(m.pdq.is_none());
                photos.push(Some(m));
            }
            Err(e) => {
                failed = true;
                photos.push(None);
                let line = error_line(path, &e, args.json);
                output::write_stdout(&format!("{}\n", terminal_safe(&line)));
            }
        }
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let rule = SamePhotoRule {
        pdq_bits: args.pdq_threshold,
        chip_bits: args.chip_threshold,
        ..SamePhotoRule::default()
    };
    let links = find_links(&photos, &rule);
    let groups = groups(photos.len(), &links);
    let mut group_of = vec![usize::MAX; photos.len()];
    for (g, members) in groups.iter().enumerate() {
        for &m in members {
            group_of[m] = g;
        }
    }
    let mut group_links: Vec<Vec<LinkLine>> = (0..groups.len()).map(|_| Vec::new()).collect();
    for l in &links {
        group_links[group_of[l.a]].push(link_line(l, &names));
    }
    for (g, (members, links)) in groups.iter().zip(group_links).enumerate() {
        let line = GroupLine {
            group: g + 1,
            photos: members.iter().map(|&m| names[m].clone()).collect(),
            links,
        };
        let text = if args.json {
            serde_json::to_string(&line).unwrap_or_default()
        } else {
            line.to_text()
        };
        output::write_stdout(&format!("{}\n", terminal_safe(&text)));
    }
    if !args.json {
        let hashed = photos.iter().flatten().count();
        let grouped: usize = groups.iter().map(Vec::len).sum();
        output::write_stdout(&format!(
            "{hashed} photos hashed ({low_quality} with a PDQ too flat to match on), \
             {} failed; {} groups holding {grouped} photos\n",
            files.len() - hashed,
            groups.len()
        ));
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

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_thresholds() {
        let cli = Cli::try_parse_from(["homeward", "dupes", "--pdq-threshold", "20", "d"]).unwrap();
        let Command::Dupes(args) = cli.command else {
            panic!("not dupes")
        };
        assert_eq!(
            (args.pdq_threshold, args.chip_threshold),
            (20, SamePhotoRule::default().chip_bits)
        );
        assert!(
            Cli::try_parse_from(["homeward", "dupes", "--chip-threshold", "300", "d"]).is_err()
        );
        assert!(Cli::try_parse_from(["homeward", "dupes"]).is_err());
    }
}
