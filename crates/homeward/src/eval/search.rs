//! `eval search`: how often the right case ranks in the top 1/5/10 when a
//! labelled set of photos is split into a registry and sightings, and how
//! many different-person cases land in each review band.
//!
//! Manifest: CSV rows `path,identity,age-or-date,role` (`role` is `registry`
//! or `sighting`; a header row is allowed; paths are relative to the
//! manifest). `age-or-date` is the person's age in years or the photo's date
//! (`YYYY[-MM[-DD]]`), or empty. Each identity with registry photos becomes
//! one case holding all of them; every sighting is ranked against every case
//! with the same policy the registry uses.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::faces::{FaceEngine, FaceOptions, Rect};
use homeward_core::index::{l2, Embedding};
use homeward_core::intake::{self, Limits};
use homeward_core::store::Sex;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::sface_points::{SfaceAligner, SfacePoints};
use crate::error::CliError;
use crate::face_args::FaceModel;
use homeward_match::ranking::{
    fit_children, fit_fusion, Band, Birth, Calibration, Candidate, CaseGallery, ChildFit, Day,
    FusedPair, Fusion, GalleryFace, ImpostorPair, ModelFusion, Models, Policy, Population,
    QueryFace, QueryMeta, SfaceVectors,
};

/// Role of a manifest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Enrolled as a case photo.
    Registry,
    /// Searched against the registry.
    Sighting,
}

/// One manifest row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Photo path (resolved against the manifest's directory).
    pub path: PathBuf,
    /// Who is in it.
    pub identity: String,
    /// Age in years, if the column held a number.
    pub age: Option<f64>,
    /// Date, if the column held a date.
    pub day: Option<Day>,
    /// Role.
    pub role: Role,
}

/// Parses a manifest.
pub fn parse_manifest(text: &str, base: &Path) -> Result<Vec<Row>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("manifest line {}: {e}", i + 1))?;
        if rec.len() < 4 {
            if rec.iter().all(|f| f.is_empty()) {
                continue;
            }
            return Err(format!(
                "manifest line {}: expected path,identity,age-or-date,role; found {} field(s)",
                i + 1,
                rec.len()
            ));
        }
        let role = match rec[3].to_ascii_lowercase().as_str() {
            "registry" => Role::Registry,
            "sighting" => Role::Sighting,
            "role" if i == 0 => continue,
            other => {
                return Err(format!(
                    "manifest line {}: role {other:?} is neither registry nor sighting",
                    i + 1
                ))
            }
        };
        let when = &rec[2];
        let (age, day) = if when.is_empty() {
            (None, None)
        } else if when.contains('-') || when.len() == 4 {
            let d = Day::parse(when)
                .ok_or_else(|| format!("manifest line {}: bad date {when:?}", i + 1))?;
            (None, Some(d))
        } else {
            let a: f64 = when
                .parse()
                .map_err(|_| format!("manifest line {}: {when:?} is no age or date", i + 1))?;
            (Some(a), None)
        };
        rows.push(Row {
            path: base.join(&rec[0]),
            identity: rec[1].to_string(),
            age,
            day,
            role,
        });
    }
    Ok(rows)
}

/// Which half of the identities an LFW manifest keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Half {
    /// Identities at even positions (sorted by name).
    A,
    /// Identities at odd positions.
    B,
}

/// Builds an `eval search` manifest from an LFW-style tree
/// (`<Name>/<Name>_NNNN.jpg`): per identity, the first `registry_photos`
/// photos (sorted) are the registry and the rest are sightings; an identity
/// with one photo is a registry-only distractor. Paths are written as given
/// under `root` (absolute when `root` is). LFW has no ages, so the age
/// column stays empty and the age features are off.
pub fn lfw_manifest(
    root: &Path,
    registry_photos: usize,
    half: Option<Half>,
) -> Result<String, String> {
    let read = |p: &Path| -> Result<Vec<PathBuf>, String> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| e.to_string();
    out.write_record(["path", "identity", "age-or-date", "role"])
        .map_err(csv_err)?;
    let people: Vec<PathBuf> = read(root)?.into_iter().filter(|p| p.is_dir()).collect();
    for (i, dir) in people.iter().enumerate() {
        match half {
            Some(Half::A) if i % 2 == 1 => continue,
            Some(Half::B) if i.is_multiple_of(2) => continue,
            _ => {}
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let photos: Vec<PathBuf> = read(dir)?
            .into_iter()
            .filter(|p| crate::output::is_image_name(p))
            .collect();
        let keep = registry_photos
            .max(1)
            .min(photos.len().saturating_sub(1).max(1));
        for (j, p) in photos.iter().enumerate() {
            let path = p.to_string_lossy().into_owned();
            let role = if j < keep { "registry" } else { "sighting" };
            out.write_record([path.as_str(), name.as_str(), "", role])
                .map_err(csv_err)?;
        }
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Embedding cache line.
#[derive(Debug, Serialize, Deserialize)]
struct CacheLine {
    path: String,
    options: String,
    embedding: Option<Vec<f32>>,
    /// SFace from YuNet's points only: YuNet found no face overlapping
    /// MMOD's, so the vector is from dlib's points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallback: Option<bool>,
}

/// The cache key of dlib's vectors (unchanged since the first cache: a line
/// without a model is dlib's).
fn options_key(o: &FaceOptions) -> String {
    format!(
        "upsample={} jitter={} flip={}",
        o.detect.upsample, o.embed.jitter, o.embed.flip
    )
}

/// The cache key of SFace's vectors (scaled to length 1) of the same faces,
/// aligned from dlib's landmarks.
fn sface_key(o: &FaceOptions) -> String {
    format!("{} model=sface", options_key(o))
}

/// The cache key of SFace's vectors aligned from YuNet's points
/// (`--sface-points yunet`).
fn yunet_key(o: &FaceOptions) -> String {
    format!("{} points=yunet", sface_key(o))
}

/// One photo's face nearest the centre: dlib's vector and, when asked,
/// SFace's (scaled to length 1) from the same face, aligned from the points
/// asked for (`--sface-points`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vectors {
    /// dlib's embedding.
    pub dlib: Embedding,
    /// SFace's embedding, scaled to length 1.
    pub sface: Option<Embedding>,
    /// With `--sface-points yunet`: YuNet found no face overlapping MMOD's,
    /// so `sface` is aligned from dlib's points.
    pub sface_fell_back: bool,
}

/// What one photo's analysis gives: dlib's vector, SFace's from dlib's
/// points, and SFace's from YuNet's with whether it fell back.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Computed {
    dlib: Embedding,
    sface: Option<Embedding>,
    yunet: Option<(Embedding, bool)>,
}

impl Computed {
    fn vectors(&self, points: SfacePoints) -> Vectors {
        let (sface, sface_fell_back) = match points {
            SfacePoints::Dlib => (self.sface, false),
            SfacePoints::Yunet => self.yunet.map_or((None, false), |(e, f)| (Some(e), f)),
        };
        Vectors {
            dlib: self.dlib,
            sface,
            sface_fell_back,
        }
    }
}

/// The embedding table: per photo, its centre face's vectors (`None`: no
/// face, or the photo cannot be read).
type Table = HashMap<PathBuf, Option<Vectors>>;

/// The face nearest the photo's centre, or `None` when no face is found or
/// the photo cannot be read.
fn embed_centre(
    engine: &FaceEngine,
    sface: Option<&SfaceAligner>,
    path: &Path,
    limits: &Limits,
    o: &FaceOptions,
) -> Result<Option<Computed>, CliError> {
    // A photo that cannot be read is an error, not a photo without a
    // face: it would be cached and counted as one.
    let photo = intake::load_path(path, limits).map_err(|e| {
        CliError::Usage(format!(
            "cannot read {} ({e}); fix or drop it from the manifest",
            path.display()
        ))
    })?;
    let (cx, cy) = (
        photo.image.width() as f64 / 2.0,
        photo.image.height() as f64 / 2.0,
    );
    let off = |r: &Rect| {
        let x = (r.left + r.right) as f64 / 2.0 - cx;
        let y = (r.top + r.bottom) as f64 / 2.0 - cy;
        x * x + y * y
    };
    let Some(face) = engine
        .analyze(&photo.image, o)
        .into_iter()
        .min_by(|a, b| off(&a.rect).total_cmp(&off(&b.rect)))
    else {
        return Ok(None);
    };
    let s = sface
        .map(|s| s.embed(&photo.image, face.rect, &face.landmarks, o.embed.flip))
        .transpose()?;
    Ok(Some(Computed {
        dlib: face.embedding.0,
        sface: s.map(|s| s.dlib_points.normalized()),
        yunet: s
            .and_then(|s| s.yunet_points)
            .map(|(e, fell_back)| (e.normalized(), fell_back)),
    }))
}

fn vector(v: Option<Vec<f32>>) -> Option<Embedding> {
    v.and_then(|v| <[f32; 128]>::try_from(v.as_slice()).ok())
}

/// Cached vectors of one kind, by path.
type Cached = HashMap<PathBuf, Option<Embedding>>;

/// The cache's vectors, by path: lines keyed `key` are dlib's (every line
/// written before SFace was cached has that key), lines keyed `skey`
/// SFace's from dlib's points, lines keyed `ykey` SFace's from YuNet's
/// points (with the photos whose YuNet vector fell back to dlib's points);
/// other options are ignored.
#[derive(Default)]
struct CacheRead {
    dlib: Cached,
    sface: Cached,
    yunet: Cached,
    yunet_fell_back: HashSet<PathBuf>,
}

fn read_cache(c: &Path, key: &str, skey: &str, ykey: &str) -> Result<CacheRead, CliError> {
    let f = std::fs::File::open(c).map_err(|source| CliError::Io {
        context: format!("cannot read cache {}", c.display()),
        source,
    })?;
    let mut out = CacheRead::default();
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        // A torn last line (interrupted run) is skipped.
        if let Ok(l) = serde_json::from_str::<CacheLine>(&line) {
            let path = PathBuf::from(l.path);
            if l.options == key {
                out.dlib.insert(path, vector(l.embedding));
            } else if l.options == skey {
                out.sface.insert(path, vector(l.embedding));
            } else if l.options == ykey {
                if l.fallback == Some(true) {
                    out.yunet_fell_back.insert(path.clone());
                }
                out.yunet.insert(path, vector(l.embedding));
            }
        }
    }
    Ok(out)
}

/// Embeds every row's photo (with SFace too when `sface` is given, aligned
/// from `points`), reading and appending to `cache` if given. With `yunet`,
/// SFace's vector from dlib's points is computed and cached too, so a later
/// run with `dlib` reads it.
fn embed_all(
    engine: &FaceEngine,
    sface: Option<&SfaceAligner>,
    points: SfacePoints,
    rows: &[Row],
    limits: &Limits,
    options: &FaceOptions,
    cache: Option<&Path>,
) -> Result<Table, CliError> {
    let key = options_key(options);
    let skey = sface_key(options);
    let ykey = yunet_key(options);
    let cached = match cache.filter(|c| c.exists()) {
        Some(c) => read_cache(c, &key, &skey, &ykey)?,
        None => CacheRead::default(),
    };
    let wanted = match points {
        SfacePoints::Dlib => &cached.sface,
        SfacePoints::Yunet => &cached.yunet,
    };
    // A photo is done when dlib's vector is known and, if SFace is asked
    // for, SFace's from the points asked for too (or dlib found no face).
    let done = |p: &PathBuf| match cached.dlib.get(p) {
        None => false,
        Some(None) => true,
        Some(Some(_)) => sface.is_none() || wanted.contains_key(p),
    };
    let mut table: Table = HashMap::new();
    let mut todo: Vec<&PathBuf> = Vec::new();
    for p in rows.iter().map(|r| &r.path) {
        if done(p) {
            let v = cached.dlib.get(p).copied().flatten().map(|d| Vectors {
                dlib: d,
                sface: sface.and(wanted.get(p).copied().flatten()),
                sface_fell_back: sface.is_some()
                    && points == SfacePoints::Yunet
                    && cached.yunet_fell_back.contains(p),
            });
            table.insert(p.clone(), v);
        } else {
            todo.push(p);
        }
    }
    todo.sort();
    todo.dedup();
    let mut writer = match cache {
        Some(c) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(c)
                .map_err(|source| CliError::Io {
                    context: format!("cannot write cache {}", c.display()),
                    source,
                })?,
        ),
        None => None,
    };
    let total = todo.len();
    let start = Instant::now();
    for (n, chunk) in todo.chunks(64).enumerate() {
        let done: Vec<(PathBuf, Option<Computed>)> = chunk
            .par_iter()
            .map(|p| {
                Ok((
                    (*p).clone(),
                    embed_centre(engine, sface, p, limits, options)?,
                ))
            })
            .collect::<Result<_, CliError>>()?;
        for (p, e) in done {
            if let Some(w) = writer.as_mut() {
                let path = p.to_string_lossy().into_owned();
                let mut lines = vec![CacheLine {
                    path: path.clone(),
                    options: key.clone(),
                    embedding: e.map(|e| e.dlib.to_vec()),
                    fallback: None,
                }];
                if let Some(s) = e.and_then(|e| e.sface) {
                    lines.push(CacheLine {
                        path: path.clone(),
                        options: skey.clone(),
                        embedding: Some(s.to_vec()),
                        fallback: None,
                    });
                }
                if let Some((y, fell_back)) = e.and_then(|e| e.yunet) {
                    lines.push(CacheLine {
                        path,
                        options: ykey.clone(),
                        embedding: Some(y.to_vec()),
                        fallback: Some(fell_back),
                    });
                }
                for line in lines {
                    let _ = writeln!(w, "{}", serde_json::to_string(&line).unwrap_or_default());
                }
            }
            table.insert(p, e.map(|e| e.vectors(points)));
        }
        let k = ((n + 1) * 64).min(total);
        if k.is_multiple_of(512) || k == total {
            eprintln!(
                "embedded {k}/{total} photos ({:.1}/s)",
                k as f64 / start.elapsed().as_secs_f64().max(1e-3)
            );
        }
    }
    Ok(table)
}

/// Counts for one band.
#[derive(Debug, Clone, Serialize)]
pub struct BandRate {
    /// Band name.
    pub band: &'static str,
    /// Its per-case false-match ceiling.
    pub fmr_ceiling: f64,
    /// Share of different-person (sighting, case) pairs in this band or stronger.
    pub false_match_rate: f64,
    /// The same among children: a child's sighting against other children's
    /// (dated) cases.
    pub child_false_match_rate: f64,
    /// Among children, for cases with one photo and with two or more.
    pub child_false_match_rate_by_photos: [f64; 2],
    /// Share of sightings whose own case lands in this band or stronger.
    pub true_match_rate: f64,
}

/// Top-k for one group of sightings.
#[derive(Debug, Clone, Serialize)]
pub struct TopK {
    /// Which sightings.
    pub group: String,
    /// How many.
    pub sightings: usize,
    pub top1: f64,
    pub top5: f64,
    pub top10: f64,
}

/// The figures of one ranking policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFigures {
    /// Fusion name, and the model(s) when not dlib alone.
    pub fusion: String,
    /// All sightings with a case, then by age-gap group, then per fold.
    pub top: Vec<TopK>,
    /// Per review band.
    pub bands: Vec<BandRate>,
}

/// The children's map used for one fold.
#[derive(Debug, Clone, Serialize)]
pub struct FoldFit {
    /// Fold evaluated with it.
    pub fold: usize,
    /// Children in the fold.
    pub children: usize,
    /// Sightings in the fold.
    pub sightings: usize,
    /// The map, fitted on the other folds' children.
    pub fit: ChildFit,
    /// SFace's map, fitted on the same pairs (with `--model sface|fusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface: Option<ChildFit>,
    /// The fusion of the two models (with `--model fusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<ModelFusion>,
}

/// The result of `eval search`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub manifest: String,
    pub population: &'static str,
    /// Face model(s) of the policy evaluated.
    pub model: &'static str,
    /// SFace's five points (with `--model sface|fusion`): `dlib` or `yunet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_points: Option<&'static str>,
    /// With `--sface-points yunet`: photos of the manifest with a face that
    /// YuNet did not find (no YuNet box overlapping MMOD's by IoU ≥ 0.5),
    /// aligned from dlib's points instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_points_fallbacks: Option<usize>,
    pub calibration_source: String,
    /// Where SFace's adult curve comes from (with `--model sface|fusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sface_calibration_source: Option<String>,
    /// Folds of children (0: the shipped map, no cross-validation).
    pub folds: usize,
    /// Per fold, the map fitted on the other folds.
    pub fold_fits: Vec<FoldFit>,
    /// Simulated volunteer's apparent-age error in years, if any.
    pub apparent_age_error: Option<f64>,
    pub cases: usize,
    pub registry_photos: usize,
    pub registry_photos_without_face: usize,
    pub sightings: usize,
    pub sightings_without_face: usize,
    /// Sightings whose identity has a case (the denominator of the hit rates).
    pub sightings_with_case: usize,
    /// The policy evaluated (first), dlib's own calibrated ranking when the
    /// policy uses SFace, and the plain `min` model (dlib, last).
    pub policies: Vec<PolicyFigures>,
    /// Share of different-person photo pairs under dlib's 0.6, for comparison.
    pub impostor_pairs_under_0_6: f64,
    pub impostor_pairs: u64,
    /// The same among children's photos (registry and sighting both dated).
    pub child_impostor_pairs_under_0_6: f64,
    pub child_impostor_pairs: u64,
    /// With `--through-registry`: the policy evaluated, with each sighting
    /// searched through a registry as the product searches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_registry: Option<RegistryFigures>,
    pub seconds: f64,
}

/// Top-k through the registry, pooled and per fold.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryFigures {
    /// Sightings with a case (no face: a miss), and the right case in the
    /// top 1 / 5 / 10.
    pub sightings: usize,
    pub top: [f64; 3],
    /// Per fold that did not fit (with `--folds`).
    pub per_fold: Vec<[f64; 3]>,
}

impl SearchReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "eval search {} ({} calibration: {})\n\
             registry: {} cases from {} photos ({} without a face)\n\
             sightings: {} ({} without a face, {} with a case)\n",
            self.manifest,
            self.population,
            self.calibration_source,
            self.cases,
            self.registry_photos,
            self.registry_photos_without_face,
            self.sightings,
            self.sightings_without_face,
            self.sightings_with_case,
        );
        if let Some(src) = &self.sface_calibration_source {
            s.push_str(&format!("SFace adult curve: {src}\n"));
        }
        if let Some(points) = self.sface_points {
            s.push_str(&format!("SFace aligned from {points} points"));
            if let Some(n) = self.sface_points_fallbacks {
                s.push_str(&format!(
                    " ({n} photos with a face fell back to dlib's: YuNet found no face overlapping MMOD's)"
                ));
            }
            s.push('\n');
        }
        if self.folds >= 2 {
            s.push_str(&format!(
                "children's map cross-validated over {} folds of children; figures are for sightings of the fold that did not fit:\n",
                self.folds
            ));
            let map = |name: &str, f: &ChildFit| {
                format!(
                    "    {name:<6} scale {:.3} offset {:.3} gap slope {:.3}/y photo correlation {:.2} ({} pairs)\n",
                    f.scale, f.offset, f.gap_slope, f.photo_correlation, f.impostor_pairs
                )
            };
            for f in &self.fold_fits {
                s.push_str(&format!(
                    "  fold {}: {} children, {} sightings; fit on the others:\n",
                    f.fold, f.children, f.sightings
                ));
                s.push_str(&map("dlib", &f.fit));
                if let Some(sf) = &f.sface {
                    s.push_str(&map("sface", sf));
                }
                if let Some(fu) = &f.fusion {
                    let caution: Vec<String> =
                        fu.band_caution.iter().map(|c| format!("{c:.2}")).collect();
                    s.push_str(&format!(
                        "    fusion model correlation r {:.3} photo correlation {:.2} band caution [{}] ({} pairs)\n",
                        fu.model_correlation,
                        fu.photo_correlation,
                        caution.join(" "),
                        fu.impostor_pairs
                    ));
                }
            }
        }
        if let Some(e) = self.apparent_age_error {
            s.push_str(&format!(
                "volunteer's apparent age simulated: a 2-year range around the true age off by up to {e} years\n"
            ));
        }
        s.push_str("right case in top 1 / 5 / 10:\n");
        s.push_str(&format!("  {:<22}", "sightings"));
        for p in &self.policies {
            s.push_str(&format!(" {:>22}", p.fusion));
        }
        s.push('\n');
        let groups = self.policies.first().map_or(0, |p| p.top.len());
        for g in 0..groups {
            let first = &self.policies[0].top[g];
            s.push_str(&format!(
                "  {:<22}",
                format!("{} ({})", first.group, first.sightings)
            ));
            for p in &self.policies {
                let t = &p.top[g];
                s.push_str(&format!(
                    " {:>6.1} {:>6.1} {:>6.1}%  ",
                    100.0 * t.top1,
                    100.0 * t.top5,
                    100.0 * t.top10
                ));
            }
            s.push('\n');
        }
        for p in &self.policies {
            s.push_str(&format!(
                "bands ({}): ceiling, measured false-match all cases / children's cases (1 photo, 2+), right case in band\n",
                p.fusion
            ));
            for b in &p.bands {
                s.push_str(&format!(
                    "  {:<9} {:>6.2}%  {:>7.3}% / {:>7.3}% ({:.3}%, {:.3}%)  {:>5.1}%\n",
                    b.band,
                    100.0 * b.fmr_ceiling,
                    100.0 * b.false_match_rate,
                    100.0 * b.child_false_match_rate,
                    100.0 * b.child_false_match_rate_by_photos[0],
                    100.0 * b.child_false_match_rate_by_photos[1],
                    100.0 * b.true_match_rate
                ));
            }
        }
        if let Some(r) = &self.through_registry {
            let pct = |t: &[f64; 3]| {
                format!(
                    "{:.1} / {:.1} / {:.1}%",
                    100.0 * t[0],
                    100.0 * t[1],
                    100.0 * t[2]
                )
            };
            s.push_str(&format!(
                "through a registry (each model's index, shortlist, then the policy; {}): top 1 / 5 / 10 {}",
                self.policies.first().map_or("", |p| p.fusion.as_str()),
                pct(&r.top)
            ));
            for (f, t) in r.per_fold.iter().enumerate() {
                s.push_str(&format!("; fold {f} {}", pct(t)));
            }
            s.push('\n');
        }
        s.push_str(&format!(
            "different-person photo pairs under dlib's 0.6: {:.2}% of {} (children against children: {:.2}% of {})\n{:.0} s",
            100.0 * self.impostor_pairs_under_0_6,
            self.impostor_pairs,
            100.0 * self.child_impostor_pairs_under_0_6,
            self.child_impostor_pairs,
            self.seconds
        ));
        s
    }
}

/// What to do besides scoring.
pub struct SearchEval<'a> {
    pub manifest: &'a Path,
    pub policy: &'a Policy,
    pub limits: Limits,
    pub options: FaceOptions,
    pub cache: Option<&'a Path>,
    /// Fit a calibration table on this manifest and write it here: the
    /// children's map for the child population, the adult curve otherwise.
    pub write_calibration: Option<&'a Path>,
    /// Cross-validate the children's map over this many folds of children
    /// (0 or 1: use the policy's map as it is).
    pub folds: usize,
    /// Simulate the volunteer's apparent age, off by up to this many years.
    pub apparent_age_error: Option<f64>,
    /// Face model(s) of the policy evaluated.
    pub model: FaceModel,
    /// SFace, loaded when `model` needs it, aligned from `sface_points`.
    pub sface: Option<&'a SfaceAligner<'a>>,
    /// The five points SFace is aligned from.
    pub sface_points: SfacePoints,
    /// Fit SFace's adult curve on the pairs among the manifest's undated
    /// registry photos of different identities (one-photo adult distractors)
    /// instead of reading it from the table.
    pub sface_adult_from_distractors: bool,
    /// Also search every sighting through a registry, as the product does.
    pub through_registry: bool,
}

/// Age-gap groups of the report, in years (inclusive).
const GAP_GROUPS: [(&str, f64, f64); 3] = [
    ("gap 3-5 y", 3.0, 5.99),
    ("gap 6-9 y", 6.0, 9.99),
    ("gap 10+ y", 10.0, f64::INFINITY),
];

/// One registry built from a manifest.
struct Built {
    cases: Vec<CaseGallery>,
    /// SFace vectors of the gallery faces, by face id.
    sface: SfaceVectors,
    ids: HashMap<String, u64>,
    /// Per case: dated (a child's case) and the age of its last photo.
    dated: Vec<bool>,
    last_age: Vec<Option<f64>>,
    registry_photos: usize,
    registry_without_face: usize,
}

/// Ages in years are placed on a timeline starting at a notional birth
/// day, so gaps and expected ages work the same as with dates.
const BIRTH: Birth = Birth {
    day: Day(0),
    uncertainty_years: 0.0,
};

fn build(rows: &[Row], table: &Table) -> Built {
    let mut b = Built {
        cases: Vec::new(),
        sface: SfaceVectors::new(),
        ids: HashMap::new(),
        dated: Vec::new(),
        last_age: Vec::new(),
        registry_photos: 0,
        registry_without_face: 0,
    };
    for (i, r) in rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.role == Role::Registry)
    {
        b.registry_photos += 1;
        let Some(Some(v)) = table.get(&r.path) else {
            b.registry_without_face += 1;
            continue;
        };
        if let Some(s) = v.sface {
            b.sface.insert(i as u64, s);
        }
        let next = b.cases.len() as u64;
        let id = *b.ids.entry(r.identity.clone()).or_insert(next);
        if id == next {
            b.cases.push(CaseGallery {
                case_id: id,
                sex: Sex::Unknown,
                birth: None,
                faces: Vec::new(),
            });
            b.dated.push(false);
            b.last_age.push(None);
        }
        let k = id as usize;
        if r.age.is_some() {
            b.cases[k].birth = Some(BIRTH);
            b.dated[k] = true;
            b.last_age[k] = Some(r.age.unwrap_or(0.0).max(b.last_age[k].unwrap_or(0.0)));
        }
        b.cases[k].faces.push(GalleryFace {
            face_id: i as u64,
            photo_id: i as u64,
            embedding: v.dlib,
            age_years: r.age,
            day: r.day.or(r.age.map(|a| BIRTH.day.plus_years(a))),
            enrolled_from_sighting: None,
        });
    }
    b
}

/// The policy's top-k with every sighting searched through a registry
/// ([`super::through_registry`]); a sighting with a case but no face is a
/// miss, as in the exhaustive figures.
#[allow(clippy::too_many_arguments)]
fn registry_figures(
    built: &Built,
    sightings: &[&Row],
    table: &Table,
    fold_of: &HashMap<&str, usize>,
    apparent_error: Option<f64>,
    policies: &[Policy],
    folds: usize,
) -> Result<RegistryFigures, CliError> {
    let with_case: Vec<&&Row> = sightings
        .iter()
        .filter(|r| built.ids.contains_key(&r.identity))
        .collect();
    let queries: Vec<super::through_registry::Query> = with_case
        .iter()
        .filter_map(|r| {
            let v = (*table.get(&r.path)?)?;
            Some(super::through_registry::Query {
                face: QueryFace {
                    dlib: v.dlib,
                    sface: v.sface,
                },
                meta: query(r, apparent_error),
                own: built.ids.get(&r.identity).copied(),
                fold: fold_of.get(r.identity.as_str()).copied().unwrap_or(0),
            })
        })
        .collect();
    let ranks = super::through_registry::ranks(&built.cases, &built.sface, &queries, policies, 10)?;
    let misses = with_case.len() - queries.len();
    let rate = |sel: &dyn Fn(usize) -> bool, n: usize| -> [f64; 3] {
        let hit = |k: usize| {
            queries
                .iter()
                .zip(&ranks)
                .filter(|(q, r)| sel(q.fold) && r.is_some_and(|r| r < k))
                .count() as f64
                / n.max(1) as f64
        };
        [hit(1), hit(5), hit(10)]
    };
    let per_fold = (0..if folds >= 2 { folds } else { 0 })
        .map(|f| {
            let n = with_case
                .iter()
                .filter(|r| fold_of.get(r.identity.as_str()).copied().unwrap_or(0) == f)
                .count();
            rate(&|g| g == f, n)
        })
        .collect();
    Ok(RegistryFigures {
        sightings: queries.len() + misses,
        top: rate(&|_| true, queries.len() + misses),
        per_fold,
    })
}

/// A deterministic number in [0, 1) from a path (the simulated volunteer).
fn path_unit(p: &Path) -> f64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(p.to_string_lossy().as_bytes());
    f64::from(u32::from_le_bytes([h[0], h[1], h[2], h[3]])) / (f64::from(u32::MAX) + 1.0)
}

/// The query a sighting row makes.
fn query(r: &Row, apparent_error: Option<f64>) -> QueryMeta {
    let apparent_age = match (r.age, apparent_error) {
        (Some(t), Some(e)) => {
            // The volunteer's guess: off by up to `e` years (whole years),
            // answered as a two-year range.
            let steps = (2.0 * e).round() + 1.0;
            let off = (path_unit(&r.path) * steps).floor() - e.round();
            let guess = (t + off).max(0.0);
            Some(((guess - 1.0).max(0.0), guess + 1.0))
        }
        _ => None,
    };
    QueryMeta {
        day: r.day.or(r.age.map(|a| BIRTH.day.plus_years(a))),
        apparent_age,
        sex: None,
    }
}

/// Child-against-child impostor pairs among the given identities (registry
/// photo against sighting photo, both dated): dlib's pair, and SFace's
/// distance when both photos have its vector.
fn child_pairs(
    rows: &[Row],
    table: &Table,
    keep: impl Fn(&str) -> bool,
) -> Vec<(ImpostorPair, Option<f64>)> {
    let dated = |role: Role| -> Vec<(&str, f64, Vectors)> {
        rows.iter()
            .filter(|r| r.role == role && keep(&r.identity))
            .filter_map(|r| Some((r.identity.as_str(), r.age?, (*table.get(&r.path)?)?)))
            .collect()
    };
    let (reg, sig) = (dated(Role::Registry), dated(Role::Sighting));
    // One group per sighting photo and other child.
    let mut children: HashMap<&str, u64> = HashMap::new();
    for (rid, _, _) in &reg {
        let next = children.len() as u64;
        children.entry(rid).or_insert(next);
    }
    let per_sighting = children.len() as u64;
    let mut out = Vec::new();
    for (si, (sid, sa, se)) in sig.iter().enumerate() {
        for (rid, ra, re) in &reg {
            if sid != rid {
                let sface = se.sface.zip(re.sface).map(|(a, b)| f64::from(l2(&a, &b)));
                let pair = ImpostorPair {
                    distance: f64::from(l2(&se.dlib, &re.dlib)),
                    gap: sa - ra,
                    group: si as u64 * per_sighting + children[rid],
                };
                out.push((pair, sface));
            }
        }
    }
    out
}

/// What one sighting contributes to one policy's figures.
#[derive(Default, Clone)]
struct Tally {
    rank: Option<usize>,
    own_band: Option<Band>,
    /// Impostor cases reaching each band (all; children by photo count).
    all: [u64; 4],
    child: [[u64; 4]; 2],
    all_cases: u64,
    child_cases: [u64; 2],
}

/// One sighting's tally under one policy, with its fold and age gap.
#[derive(Clone)]
struct Sighted {
    fold: usize,
    gap: Option<f64>,
    tally: Tally,
}

fn tally(ranked: &[Candidate], own: Option<u64>, dated: &[bool], cases: &[CaseGallery]) -> Tally {
    let mut t = Tally::default();
    for (k, c) in ranked.iter().enumerate() {
        if Some(c.case_id) == own {
            t.rank = Some(k);
            t.own_band = Some(c.band);
            continue;
        }
        t.all_cases += 1;
        t.all[c.band as usize] += 1;
        let i = c.case_id as usize;
        if dated[i] {
            let m = usize::from(cases[i].faces.len() > 1);
            t.child_cases[m] += 1;
            t.child[m][c.band as usize] += 1;
        }
    }
    t
}

fn figures(fusion: String, per_sighting: &[Sighted], folds: usize) -> PolicyFigures {
    let top = |group: String, sel: &dyn Fn(usize, Option<f64>) -> bool| {
        let v: Vec<&Tally> = per_sighting
            .iter()
            .filter(|x| sel(x.fold, x.gap))
            .map(|x| &x.tally)
            .collect();
        let n = v.len();
        let hit = |k: usize| {
            v.iter().filter(|t| t.rank.is_some_and(|r| r < k)).count() as f64 / n.max(1) as f64
        };
        TopK {
            group,
            sightings: n,
            top1: hit(1),
            top5: hit(5),
            top10: hit(10),
        }
    };
    let mut tops = vec![top("all".into(), &|_, _| true)];
    for (name, lo, hi) in GAP_GROUPS {
        tops.push(top(name.into(), &|_, g| {
            g.is_some_and(|g| g >= lo && g <= hi)
        }));
    }
    if folds >= 2 {
        for f in 0..folds {
            tops.push(top(format!("fold {f}"), &|ff, _| ff == f));
        }
    }
    let n = per_sighting.len().max(1) as f64;
    let sum = |f: &dyn Fn(&Tally) -> u64| per_sighting.iter().map(|x| f(&x.tally)).sum::<u64>();
    let bands = Band::QUEUED
        .iter()
        .map(|&(band, ceiling)| {
            let upto = |a: &[u64; 4]| (0..=band as usize).map(|b| a[b]).sum::<u64>();
            let rate = |num: u64, den: u64| num as f64 / den.max(1) as f64;
            let by = |m: usize| rate(sum(&|t| upto(&t.child[m])), sum(&|t| t.child_cases[m]));
            BandRate {
                band: band.name(),
                fmr_ceiling: ceiling,
                false_match_rate: rate(sum(&|t| upto(&t.all)), sum(&|t| t.all_cases)),
                child_false_match_rate: rate(
                    sum(&|t| upto(&t.child[0]) + upto(&t.child[1])),
                    sum(&|t| t.child_cases[0] + t.child_cases[1]),
                ),
                child_false_match_rate_by_photos: [by(0), by(1)],
                true_match_rate: per_sighting
                    .iter()
                    .filter(|x| x.tally.own_band.is_some_and(|b| b <= band))
                    .count() as f64
                    / n,
            }
        })
        .collect();
    PolicyFigures {
        fusion,
        top: tops,
        bands,
    }
}

/// The ranking's models for a command's `--model`.
fn models_of(m: FaceModel) -> Models {
    m.ranking()
}

/// The SFace model string recorded in a table.
fn sface_model(o: &FaceOptions, points: SfacePoints) -> String {
    let aligned = match points {
        SfacePoints::Dlib => "aligned from dlib's landmarks",
        SfacePoints::Yunet => {
            "aligned from YuNet's five points (dlib's landmarks where YuNet finds no face)"
        }
    };
    format!(
        "face_recognition_sface_2021dec, {aligned}, unit vectors compared by Euclidean distance ({})",
        options_key(o)
    )
}

/// A children's map that reads SFace's adult curve unchanged, for a table
/// whose SFace map has not been fitted yet.
fn unfitted_map() -> ChildFit {
    ChildFit {
        scale: 1.0,
        offset: 0.0,
        gap_slope: 0.0,
        gap_cap_years: 12.0,
        photo_correlation: 0.0,
        impostor_pairs: 1,
        source: "not fitted: the adult curve unchanged".into(),
    }
}

/// SFace distances of every pair of the manifest's undated registry photos
/// of two different identities (LFW distractors: one adult each).
fn distractor_pairs(rows: &[Row], table: &Table) -> Vec<f32> {
    let v: Vec<(&str, Embedding)> = rows
        .iter()
        .filter(|r| r.role == Role::Registry && r.age.is_none() && r.day.is_none())
        .filter_map(|r| Some((r.identity.as_str(), (*table.get(&r.path)?)?.sface?)))
        .collect();
    (0..v.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let v = &v;
            (i + 1..v.len())
                .filter(move |&j| v[i].0 != v[j].0)
                .map(move |j| l2(&v[i].1, &v[j].1))
        })
        .collect()
}

/// The pairs of `pairs` as seen by SFace (those with its distance).
fn sface_pairs(pairs: &[(ImpostorPair, Option<f64>)]) -> Vec<ImpostorPair> {
    pairs
        .iter()
        .filter_map(|(p, s)| {
            Some(ImpostorPair {
                distance: (*s)?,
                ..*p
            })
        })
        .collect()
}

/// The pairs of `pairs` measured by both models.
fn fused_pairs(pairs: &[(ImpostorPair, Option<f64>)]) -> Vec<FusedPair> {
    pairs
        .iter()
        .filter_map(|(p, s)| {
            Some(FusedPair {
                dlib: p.distance,
                sface: (*s)?,
                gap: p.gap,
                group: p.group,
            })
        })
        .collect()
}

/// Fits SFace's children's map (onto `sface_adult`) and, for fusion, the
/// fusion with `dlib` (whose map is fitted already) on `pairs`.
fn fit_second(
    pairs: &[(ImpostorPair, Option<f64>)],
    dlib: &Calibration,
    sface_adult: &Calibration,
    fusion: bool,
    source: &str,
) -> Result<(Calibration, Option<ModelFusion>), CliError> {
    let fit = fit_children(&sface_pairs(pairs), sface_adult, source)
        .map_err(|err| CliError::Usage(format!("SFace: {err}")))?;
    let table = Calibration {
        children: fit,
        ..sface_adult.clone()
    };
    let fused = if fusion {
        let source = format!("{source}; r and the fused photo correlation of dlib and SFace");
        Some(
            fit_fusion(&fused_pairs(pairs), dlib, &table, &source)
                .map_err(|err| CliError::Usage(format!("fusion: {err}")))?,
        )
    } else {
        None
    };
    Ok((table, fused))
}

/// Refuses a manifest naming photos that are not there, before any work:
/// a wrong folder would otherwise read as photos without a face, and the
/// figures as a model's failure.
fn check_photos_exist(rows: &[Row], manifest: &Path) -> Result<(), CliError> {
    let missing: Vec<&Row> = rows.iter().filter(|r| !r.path.is_file()).collect();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(CliError::Usage(format!(
            "{} of the {} photos in manifest {} are not there (the first: {}); a manifest's \
             paths are read relative to the manifest's own folder",
            missing.len(),
            rows.len(),
            manifest.display(),
            first.path.display()
        ))),
    }
}

/// Runs `eval search`.
pub fn evaluate(engine: &FaceEngine, e: &SearchEval<'_>) -> Result<SearchReport, CliError> {
    let start = Instant::now();
    let text = std::fs::read_to_string(e.manifest).map_err(|source| CliError::Io {
        context: format!("cannot read manifest {}", e.manifest.display()),
        source,
    })?;
    let base = e.manifest.parent().unwrap_or(Path::new("."));
    let rows = parse_manifest(&text, base).map_err(CliError::Usage)?;
    check_photos_exist(&rows, e.manifest)?;
    let second = e.model.needs_sface();
    if second && e.sface.is_none() {
        return Err(CliError::Usage(
            "--model sface|fusion needs SFace loaded".into(),
        ));
    }
    let table = embed_all(
        engine,
        e.sface.filter(|_| second),
        e.sface_points,
        &rows,
        &e.limits,
        &e.options,
        e.cache,
    )?;
    let built = build(&rows, &table);
    let models = models_of(e.model);

    // Children: identities with a dated photo, in name order, dealt into folds.
    let mut children: Vec<&str> = rows
        .iter()
        .filter(|r| r.age.is_some() || r.day.is_some())
        .map(|r| r.identity.as_str())
        .collect();
    children.sort_unstable();
    children.dedup();
    let folds = if e.folds >= 2 { e.folds } else { 0 };
    let fold_of: HashMap<&str, usize> = children
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, if folds >= 2 { i % folds } else { 0 }))
        .collect();
    let adult = &e.policy.calibration;
    let name = e
        .manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    // SFace's adult curve: from the table, or fitted on the distractors.
    let sface_adult: Option<Calibration> = if !second {
        None
    } else if e.sface_adult_from_distractors {
        let d = distractor_pairs(&rows, &table);
        if d.len() < 100_000 {
            return Err(CliError::Usage(format!(
                "--sface-adult-from-distractors found {} pairs among undated registry photos; use a manifest with LFW distractors (lfw-distractors-*.csv)",
                d.len()
            )));
        }
        let people = rows
            .iter()
            .filter(|r| r.role == Role::Registry && r.age.is_none() && r.day.is_none())
            .filter(|r| matches!(table.get(&r.path), Some(Some(v)) if v.sface.is_some()))
            .count();
        let source = format!(
            "SFace adult impostor pairs: every pair of the {people} undated one-photo adult registry photos (LFW distractors) of manifest {name} ({} pairs). Command: homeward eval search --manifest {name} --model {} --flip{}{} --sface-adult-from-distractors --write-calibration calibration.json",
            d.len(),
            e.model.name(),
            if folds >= 2 { format!(" --folds {folds}") } else { String::new() },
            match e.sface_points {
                SfacePoints::Dlib => "",
                SfacePoints::Yunet => " --sface-points yunet",
            }
        );
        let children = adult
            .sface
            .as_ref()
            .map_or_else(unfitted_map, |s| s.children.clone());
        Some(Calibration::fit_on(
            &d,
            Calibration::unit_grid(),
            &sface_model(&e.options, e.sface_points),
            &source,
            children,
        ))
    } else {
        match adult.sface.as_deref() {
            Some(s) => Some(s.clone()),
            None => {
                return Err(CliError::Usage(
                    "the calibration table has no SFace curve: pass --sface-adult-from-distractors on a manifest with LFW distractors, or --calibration with a version 4 table written by `eval search --model fusion --write-calibration`".into(),
                ))
            }
        }
    };
    if folds < 2 && models == Models::Fusion && adult.fusion.is_none() {
        return Err(CliError::Usage(
            "the calibration table has no fusion block: use --folds 2 (fits it), or --calibration with a version 4 table written by `eval search --model fusion --write-calibration`".into(),
        ));
    }

    let mut policies: Vec<Policy> = Vec::new();
    let mut fold_fits = Vec::new();
    for f in 0..folds.max(1) {
        let mut p = e.policy.clone();
        p.models = models;
        if let Some(sa) = &sface_adult {
            p.calibration.sface = Some(Box::new(sa.clone()));
        }
        if folds >= 2 {
            let pairs = child_pairs(&rows, &table, |id| fold_of.get(id).is_some_and(|&g| g != f));
            let dlib: Vec<ImpostorPair> = pairs.iter().map(|x| x.0).collect();
            let fit = fit_children(&dlib, adult, "cross-validation fold")
                .map_err(|err| CliError::Usage(format!("fold {f}: {err}")))?;
            p.calibration.children = fit.clone();
            let (mut sface_fit, mut fusion_fit) = (None, None);
            if let Some(sa) = &sface_adult {
                let (sc, fu) = fit_second(
                    &pairs,
                    &p.calibration,
                    sa,
                    models == Models::Fusion,
                    "cross-validation fold",
                )
                .map_err(|err| CliError::Usage(format!("fold {f}: {err}")))?;
                sface_fit = Some(sc.children.clone());
                fusion_fit = fu.clone();
                p.calibration.sface = Some(Box::new(sc));
                p.calibration.fusion = fu;
            }
            fold_fits.push(FoldFit {
                fold: f,
                children: fold_of.values().filter(|&&g| g == f).count(),
                sightings: rows
                    .iter()
                    .filter(|r| {
                        r.role == Role::Sighting && fold_of.get(r.identity.as_str()) == Some(&f)
                    })
                    .count(),
                fit,
                sface: sface_fit,
                fusion: fusion_fit,
            });
        }
        policies.push(p);
    }

    let sightings: Vec<&Row> = rows.iter().filter(|r| r.role == Role::Sighting).collect();
    // Per sighting: the policy evaluated, dlib's own calibrated ranking when
    // the policy uses SFace, and the plain `min` model (dlib).
    let dlib_too = models != Models::Dlib;
    // Sightings of identities outside the folds (no dated photo) are
    // evaluated with fold 0's policy.
    let results: Vec<Option<Vec<Sighted>>> = sightings
        .par_iter()
        .map(|r| {
            let v = (*table.get(&r.path)?)?;
            let own = built.ids.get(&r.identity).copied();
            let fold = fold_of.get(r.identity.as_str()).copied().unwrap_or(0);
            let gap = own
                .and_then(|c| built.last_age[c as usize])
                .zip(r.age)
                .map(|(last, now)| now - last);
            let meta = query(r, e.apparent_age_error);
            let policy = &policies[fold];
            let mut runs = vec![policy.clone()];
            if dlib_too {
                let mut d = policy.clone();
                d.models = Models::Dlib;
                runs.push(d);
            }
            let mut plain = policy.clone();
            plain.fusion = Fusion::Min;
            plain.models = Models::Dlib;
            runs.push(plain);
            let face = QueryFace {
                dlib: v.dlib,
                sface: v.sface,
            };
            Some(
                runs.iter()
                    .map(|p| {
                        let ranked = p.rank_faces(&[face], &meta, &built.cases, &built.sface);
                        Sighted {
                            fold,
                            gap,
                            tally: tally(&ranked, own, &built.dated, &built.cases),
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    let runs = if dlib_too { 3 } else { 2 };
    let with_case: Vec<&Vec<Sighted>> = results
        .iter()
        .flatten()
        .zip(
            sightings
                .iter()
                .filter(|r| matches!(table.get(&r.path), Some(Some(_)))),
        )
        .filter(|(_, r)| built.ids.contains_key(&r.identity))
        .map(|(x, _)| x)
        .collect();
    // Sightings with a case but no face count as misses.
    let missed_without_face = sightings
        .iter()
        .zip(&results)
        .filter(|(r, x)| x.is_none() && built.ids.contains_key(&r.identity))
        .count();
    let miss = Sighted {
        fold: usize::MAX,
        gap: None,
        tally: Tally::default(),
    };
    let per_run: Vec<Vec<Sighted>> = (0..runs)
        .map(|k| {
            let mut v: Vec<Sighted> = with_case.iter().map(|x| x[k].clone()).collect();
            v.extend(std::iter::repeat_n(miss.clone(), missed_without_face));
            v
        })
        .collect();
    let fusion = e.policy.fusion.name();
    let mut names = vec![if dlib_too {
        format!("{fusion} {}", models.name())
    } else {
        fusion.to_string()
    }];
    if dlib_too {
        names.push(format!("{fusion} dlib"));
    }
    names.push(Fusion::Min.name().to_string());
    let figs: Vec<PolicyFigures> = names
        .into_iter()
        .zip(&per_run)
        .map(|(n, v)| figures(n, v, folds))
        .collect();
    let with_case_count = per_run.first().map_or(0, Vec::len);

    // Photo pairs under dlib's 0.6, all and among children.
    let (mut pairs, mut under) = (0u64, 0u64);
    let mut fit_dists: Vec<f32> = Vec::new();
    let adult_fit = e.write_calibration.is_some() && e.policy.population == Population::Adult;
    for r in &sightings {
        let Some(Some(v)) = table.get(&r.path) else {
            continue;
        };
        let own = built.ids.get(&r.identity).copied();
        for c in built.cases.iter().filter(|c| Some(c.case_id) != own) {
            for g in &c.faces {
                let d = l2(&v.dlib, &g.embedding);
                pairs += 1;
                under += u64::from(d < 0.6);
                if adult_fit {
                    // The adult curve of the model asked for.
                    if !second {
                        fit_dists.push(d);
                    } else if let Some((a, b)) = v.sface.zip(built.sface.get(&g.face_id)) {
                        fit_dists.push(l2(&a, b));
                    }
                }
            }
        }
    }
    let kids = child_pairs(&rows, &table, |_| true);
    let through_registry = if e.through_registry {
        Some(registry_figures(
            &built,
            &sightings,
            &table,
            &fold_of,
            e.apparent_age_error,
            &policies,
            folds,
        )?)
    } else {
        None
    };
    let kids_under = kids.iter().filter(|p| p.0.distance < 0.6).count();

    if let Some(out) = e.write_calibration {
        let fitted = match e.policy.population {
            Population::Adult if second => {
                let source = format!("impostor photo pairs (sighting vs registry photo of another identity) of manifest {name}");
                let children = adult
                    .sface
                    .as_ref()
                    .map_or_else(unfitted_map, |s| s.children.clone());
                let sc = if e.sface_adult_from_distractors {
                    sface_adult.clone().unwrap_or_else(|| {
                        Calibration::fit_on(&fit_dists, Calibration::unit_grid(), &sface_model(&e.options, e.sface_points), &source, children)
                    })
                } else {
                    Calibration::fit_on(&fit_dists, Calibration::unit_grid(), &sface_model(&e.options, e.sface_points), &source, children)
                };
                Calibration {
                    sface: Some(Box::new(sc)),
                    ..adult.clone()
                }
            }
            Population::Adult => Calibration::fit(
                &fit_dists,
                &format!("dlib_face_recognition_resnet_model_v1 ({})", options_key(&e.options)),
                &format!("impostor photo pairs (sighting vs registry photo of another identity) of manifest {name}"),
                adult.children.clone(),
            ),
            Population::Child => {
                let source = |model: &str| format!(
                    "child-against-child impostor pairs (dated sighting vs dated registry photo of another child) of manifest {name}, {} children; {model}; {}",
                    children.len(),
                    options_key(&e.options)
                );
                let dlib: Vec<ImpostorPair> = kids.iter().map(|x| x.0).collect();
                let fit = fit_children(&dlib, adult, &source("dlib"))
                    .map_err(|err| CliError::Usage(err.to_string()))?;
                let mut out = Calibration {
                    children: fit,
                    ..adult.clone()
                };
                if let Some(sa) = &sface_adult {
                    let (sc, fu) = fit_second(
                        &kids,
                        &out,
                        sa,
                        models == Models::Fusion,
                        &source("SFace"),
                    )?;
                    out.sface = Some(Box::new(sc));
                    out.fusion = fu.or(out.fusion);
                }
                out
            }
        };
        std::fs::write(out, fitted.to_json()).map_err(|source| CliError::Io {
            context: format!("cannot write {}", out.display()),
            source,
        })?;
    }
    let with_face = results.iter().flatten().count();
    let yunet = second && e.sface_points == SfacePoints::Yunet;
    let fallbacks = yunet.then(|| {
        let photos: HashSet<&PathBuf> = rows.iter().map(|r| &r.path).collect();
        photos
            .iter()
            .filter(|p| matches!(table.get(**p), Some(Some(v)) if v.sface_fell_back))
            .count()
    });
    Ok(SearchReport {
        manifest: e.manifest.display().to_string(),
        population: e.policy.population.name(),
        model: e.model.name(),
        sface_points: second.then_some(e.sface_points.name()),
        sface_points_fallbacks: fallbacks,
        calibration_source: adult.source.clone(),
        sface_calibration_source: sface_adult.as_ref().map(|s| s.source.clone()),
        folds,
        fold_fits,
        apparent_age_error: e.apparent_age_error,
        cases: built.cases.len(),
        registry_photos: built.registry_photos,
        registry_photos_without_face: built.registry_without_face,
        sightings: sightings.len(),
        sightings_without_face: sightings.len() - with_face,
        sightings_with_case: with_case_count,
        through_registry,
        policies: figs,
        impostor_pairs_under_0_6: under as f64 / pairs.max(1) as f64,
        impostor_pairs: pairs,
        child_impostor_pairs_under_0_6: kids_under as f64 / kids.len().max(1) as f64,
        child_impostor_pairs: kids.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_manifest_rows_ages_and_dates() {
        let text = "path,identity,age-or-date,role\na.jpg,ann,4,registry\nb.jpg,ann,2019-05-01,sighting\nc.jpg,bob,,Sighting\n";
        let rows = parse_manifest(text, Path::new("/m")).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].path, Path::new("/m/a.jpg"));
        assert_eq!((rows[0].age, rows[0].role), (Some(4.0), Role::Registry));
        assert_eq!(rows[1].day.map(Day::iso).as_deref(), Some("2019-05-01"));
        assert_eq!(
            (rows[2].age, rows[2].day, rows[2].role),
            (None, None, Role::Sighting)
        );
    }

    #[test]
    fn simulated_apparent_age_is_a_two_year_range_off_by_at_most_the_error() {
        let mut offs = std::collections::BTreeSet::new();
        for i in 0..200 {
            let r = Row {
                path: PathBuf::from(format!("p{i}.jpg")),
                identity: "a".into(),
                age: Some(9.0),
                day: None,
                role: Role::Sighting,
            };
            let (lo, hi) = query(&r, Some(2.0)).apparent_age.unwrap();
            assert_eq!(hi - lo, 2.0);
            let off = (lo + hi) / 2.0 - 9.0;
            assert!((-2.0..=2.0).contains(&off), "{off}");
            offs.insert(off as i64);
            assert_eq!(query(&r, None).apparent_age, None);
        }
        assert_eq!(offs.len(), 5, "{offs:?}");
    }

    #[test]
    fn the_cache_keys_sface_apart_and_reads_old_lines_as_dlib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.jsonl");
        let o = FaceOptions {
            detect: homeward_core::faces::DetectOptions {
                upsample: 1,
                ..Default::default()
            },
            embed: homeward_core::faces::EmbedOptions {
                jitter: 0,
                flip: true,
            },
        };
        let (key, skey, ykey) = (options_key(&o), sface_key(&o), yunet_key(&o));
        assert_eq!(key, "upsample=1 jitter=0 flip=true");
        assert_eq!(
            ykey,
            "upsample=1 jitter=0 flip=true model=sface points=yunet"
        );
        let line = |p: &str, k: &str, x: f32| {
            format!(
                "{{\"path\":\"{p}\",\"options\":\"{k}\",\"embedding\":{:?}}}\n",
                vec![x; 128]
            )
        };
        let text = [
            line("a.jpg", &key, 0.1),
            line("a.jpg", &skey, 0.2),
            line("b.jpg", &key, 0.3),
            "{\"path\":\"c.jpg\",\"options\":\"upsample=1 jitter=0 flip=true\",\"embedding\":null}\n".into(),
            line("d.jpg", "upsample=0 jitter=0 flip=true", 0.4),
            line("a.jpg", &ykey, 0.5),
            line("b.jpg", &ykey, 0.6).replace('}', ",\"fallback\":true}"),
            "{\"path\":\"torn".into(),
        ]
        .concat();
        std::fs::write(&path, text).unwrap();
        let read = read_cache(&path, &key, &skey, &ykey).unwrap();
        let (dlib, sface) = (read.dlib, read.sface);
        assert_eq!(dlib.len(), 3);
        assert_eq!(dlib[Path::new("a.jpg")].map(|v| v[0]), Some(0.1));
        assert_eq!(dlib[Path::new("c.jpg")], None);
        assert_eq!(sface.len(), 1);
        assert_eq!(sface[Path::new("a.jpg")].map(|v| v[5]), Some(0.2));
        assert!(!sface.contains_key(Path::new("b.jpg")));
        // YuNet's points are keyed apart, with their fallbacks.
        assert_eq!(read.yunet.len(), 2);
        assert_eq!(read.yunet[Path::new("a.jpg")].map(|v| v[0]), Some(0.5));
        assert_eq!(read.yunet[Path::new("b.jpg")].map(|v| v[0]), Some(0.6));
        let fell: Vec<&PathBuf> = read.yunet_fell_back.iter().collect();
        assert_eq!(fell, [Path::new("b.jpg")]);
    }

    #[test]
    fn computed_vectors_follow_the_points_asked() {
        let c = Computed {
            dlib: [0.1; 128],
            sface: Some([0.2; 128]),
            yunet: Some(([0.3; 128], true)),
        };
        let d = c.vectors(SfacePoints::Dlib);
        assert_eq!(
            (d.dlib[0], d.sface.map(|v| v[0]), d.sface_fell_back),
            (0.1, Some(0.2), false)
        );
        let y = c.vectors(SfacePoints::Yunet);
        assert_eq!(
            (y.sface.map(|v| v[0]), y.sface_fell_back),
            (Some(0.3), true)
        );
        let none = Computed { yunet: None, ..c }.vectors(SfacePoints::Yunet);
        assert_eq!((none.sface, none.sface_fell_back), (None, false));
    }

    #[test]
    fn refuses_bad_roles_and_short_rows() {
        assert!(parse_manifest("a.jpg,ann,4,suspect\n", Path::new(".")).is_err());
        assert!(parse_manifest("a.jpg,ann\n", Path::new(".")).is_err());
        assert!(parse_manifest("a.jpg,ann,soon,registry\n", Path::new(".")).is_err());
    }

    #[test]
    fn a_manifest_naming_missing_photos_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"not read here").unwrap();
        let m = "a.jpg,ann,4,registry\nb.jpg,ann,9,sighting\nc.jpg,bob,5,registry\n";
        let rows = parse_manifest(m, dir.path()).unwrap();
        let e = check_photos_exist(&rows, &dir.path().join("m.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 of the 3 photos"), "{e}");
        assert!(
            e.contains("b.jpg") && e.contains("relative to the manifest"),
            "{e}"
        );
        assert!(check_photos_exist(&rows[..1], Path::new("m.csv")).is_ok());
    }

    #[test]
    fn lfw_manifest_splits_first_photo_and_halves() {
        let dir = tempfile::tempdir().unwrap();
        for (name, n) in [("Ann", 3), ("Bob", 1), ("Cy", 2)] {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            for i in 1..=n {
                std::fs::write(d.join(format!("{name}_{i:04}.jpg")), b"x").unwrap();
            }
        }
        let m = lfw_manifest(dir.path(), 1, None).unwrap();
        let rows = parse_manifest(&m, dir.path()).unwrap();
        let roles: Vec<(String, Role)> =
            rows.iter().map(|r| (r.identity.clone(), r.role)).collect();
        assert_eq!(roles.iter().filter(|r| r.1 == Role::Registry).count(), 3);
        assert_eq!(roles.iter().filter(|r| r.1 == Role::Sighting).count(), 3);
        assert!(rows[0].path.ends_with("Ann/Ann_0001.jpg"));
        // Two registry photos for Ann keeps one sighting; Cy keeps one of each.
        let m2 = parse_manifest(&lfw_manifest(dir.path(), 2, None).unwrap(), dir.path()).unwrap();
        assert_eq!(m2.iter().filter(|r| r.role == Role::Sighting).count(), 2);
        let a = parse_manifest(
            &lfw_manifest(dir.path(), 1, Some(Half::A)).unwrap(),
            dir.path(),
        )
        .unwrap();
        assert!(a.iter().all(|r| r.identity != "Bob"));
    }
}

/// Ranks every sighting of a labelled manifest against a registry built from
/// its registry rows, with the matching policy, and prints the share of
/// sightings whose case is ranked 1st, in the top 5 and top 10, and the
/// false-match rate measured in each review band. Embeddings can be cached
/// so that policies are compared without recomputing them.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// CSV rows path,identity,age-or-date,role (role: registry or sighting).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Case fusion to evaluate (the plain `min` model is always reported
    /// beside it).
    #[arg(long, value_enum, default_value_t = homeward_match::ranking::Fusion::Calibrated)]
    pub fusion: homeward_match::ranking::Fusion,
    /// Cross-validate the children's calibration over this many folds of
    /// children (by identity): each fold's sightings are ranked with a map
    /// fitted on the other folds. 0 uses the shipped map.
    #[arg(long, default_value_t = 0)]
    pub folds: usize,
    /// Simulate the volunteer's apparent age: a two-year range around the
    /// child's true age, off by up to this many years.
    #[arg(long)]
    pub apparent_age_error: Option<f64>,
    /// Calibration population: `adult` reads the table as fitted (use for
    /// LFW); `child` reads it through the children's map.
    #[arg(long, value_enum, default_value_t = homeward_match::ranking::Population::Child)]
    pub population: homeward_match::ranking::Population,
    /// Calibration table to use instead of the shipped one.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Fit a calibration table on this manifest and write it here: with
    /// `--population child` the children's map (on child-against-child
    /// impostor pairs), with `adult` the adult curve.
    #[arg(long)]
    pub write_calibration: Option<PathBuf>,
    /// JSON-lines embedding cache, read and appended to (dlib's and SFace's
    /// vectors are keyed apart; a line without a model is dlib's).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Face model(s) of the policy evaluated: dlib, sface, or fusion (both,
    /// fused as calibrated scores). With sface or fusion, dlib's own
    /// calibrated ranking is reported beside it, and `--folds` fits every
    /// model's map and the fusion on the other folds.
    #[arg(long, value_enum, default_value_t = FaceModel::Dlib)]
    pub model: FaceModel,
    /// SFace's five points: dlib (derived from dlib's landmarks) or yunet
    /// (YuNet's own points for the face MMOD found; dlib's when YuNet finds
    /// no overlapping face, counted as fallbacks). Cached apart; with yunet
    /// the dlib-points vectors are cached too.
    #[arg(long, value_enum, default_value_t = SfacePoints::Dlib)]
    pub sface_points: SfacePoints,
    /// With `--model sface|fusion`: fit SFace's adult curve on every pair of
    /// the manifest's undated registry photos of different identities (the
    /// one-photo LFW distractors of lfw-distractors-*.csv) instead of reading
    /// it from the calibration table.
    #[arg(long)]
    pub sface_adult_from_distractors: bool,
    /// Also search every sighting through a throwaway registry, as the
    /// product does (each model's index, the shortlist, then the policy),
    /// and report its top-k beside the exhaustive ranking.
    #[arg(long)]
    pub through_registry: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub face: crate::face_args::FaceArgs,
}

/// Writes an `eval search` manifest for an LFW-style tree
/// (`<Name>/<Name>_NNNN.jpg`): per person, the first photo(s) are the
/// registry and the others sightings. LFW has no ages: the age features are
/// off on it.
#[derive(Debug, clap::Args)]
pub struct LfwManifestArgs {
    /// Directory of <Name>/<Name>_NNNN.jpg.
    #[arg(long)]
    pub root: PathBuf,
    /// Where to write the CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// Photos per person enrolled in the registry (a person keeps at least
    /// one sighting when they have two photos or more).
    #[arg(long, default_value_t = 1)]
    pub registry_photos: usize,
    /// Keep only half of the people (to fit a calibration on one half and
    /// measure it on the other).
    #[arg(long, value_enum)]
    pub half: Option<Half>,
}

pub fn run_search(args: &SearchArgs) -> Result<crate::error::Outcome, CliError> {
    let engine = FaceEngine::bundled()?;
    let mut policy = Policy::shipped().map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(p) = &args.calibration {
        let text = std::fs::read_to_string(p).map_err(|source| CliError::Io {
            context: format!("cannot read {}", p.display()),
            source,
        })?;
        policy.calibration =
            Calibration::from_json(&text).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    policy.fusion = args.fusion;
    policy.population = args.population;
    if let Some(e) = args.apparent_age_error {
        if !(0.0..=10.0).contains(&e) {
            return Err(CliError::Usage(format!(
                "--apparent-age-error {e} is outside 0-10 years"
            )));
        }
    }
    if args.folds == 1 || args.folds > 20 {
        return Err(CliError::Usage(format!(
            "--folds {} must be 0 (no cross-validation) or 2-20",
            args.folds
        )));
    }
    let sface = args.model.load_sface()?;
    let aligner = sface
        .as_ref()
        .map(|s| SfaceAligner::new(s, args.sface_points))
        .transpose()?;
    let report = evaluate(
        &engine,
        &SearchEval {
            manifest: &args.manifest,
            policy: &policy,
            limits: args.face.limits(),
            options: args.face.options(),
            cache: args.cache.as_deref(),
            write_calibration: args.write_calibration.as_deref(),
            folds: args.folds,
            apparent_age_error: args.apparent_age_error,
            model: args.model,
            sface: aligner.as_ref(),
            sface_points: args.sface_points,
            sface_adult_from_distractors: args.sface_adult_from_distractors,
            through_registry: args.through_registry,
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("{}", report.to_text());
    }
    Ok(crate::error::Outcome::Success)
}

pub fn run_lfw_manifest(args: &LfwManifestArgs) -> Result<crate::error::Outcome, CliError> {
    let text =
        lfw_manifest(&args.root, args.registry_photos, args.half).map_err(CliError::Usage)?;
    std::fs::write(&args.out, &text).map_err(|source| CliError::Io {
        context: format!("cannot write {}", args.out.display()),
        source,
    })?;
    let rows = text.lines().count().saturating_sub(1);
    eprintln!("wrote {rows} rows to {}", args.out.display());
    Ok(crate::error::Outcome::Success)
}
