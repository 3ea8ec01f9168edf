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

use std::collections::HashMap;
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

use crate::cli::CliError;
use crate::ranking::{
    Band, Birth, Calibration, CaseGallery, ChildAnchor, Day, GalleryFace, Policy, QueryMeta,
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
}

fn options_key(o: &FaceOptions) -> String {
    format!(
        "upsample={} jitter={} flip={}",
        o.detect.upsample, o.embed.jitter, o.embed.flip
    )
}

/// The face nearest the photo's centre, or `None` when no face is found or
/// the photo cannot be read.
fn embed_centre(
    engine: &FaceEngine,
    path: &Path,
    limits: &Limits,
    o: &FaceOptions,
) -> Option<Embedding> {
    let photo = intake::load_path(path, limits).ok()?;
    let (cx, cy) = (
        photo.image.width() as f64 / 2.0,
        photo.image.height() as f64 / 2.0,
    );
    let off = |r: &Rect| {
        let x = (r.left + r.right) as f64 / 2.0 - cx;
        let y = (r.top + r.bottom) as f64 / 2.0 - cy;
        x * x + y * y
    };
    engine
        .analyze(&photo.image, o)
        .into_iter()
        .min_by(|a, b| off(&a.rect).total_cmp(&off(&b.rect)))
        .map(|f| f.embedding.0)
}

/// Embeds every row's photo, reading and appending to `cache` if given.
fn embed_all(
    engine: &FaceEngine,
    rows: &[Row],
    limits: &Limits,
    options: &FaceOptions,
    cache: Option<&Path>,
) -> Result<HashMap<PathBuf, Option<Embedding>>, CliError> {
    let key = options_key(options);
    let mut table: HashMap<PathBuf, Option<Embedding>> = HashMap::new();
    if let Some(c) = cache.filter(|c| c.exists()) {
        let f = std::fs::File::open(c).map_err(|source| CliError::Io {
            context: format!("cannot read cache {}", c.display()),
            source,
        })?;
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            // A torn last line (interrupted run) is skipped.
            if let Ok(l) = serde_json::from_str::<CacheLine>(&line) {
                if l.options == key {
                    let e = l
                        .embedding
                        .and_then(|v| <[f32; 128]>::try_from(v.as_slice()).ok());
                    table.insert(PathBuf::from(l.path), e);
                }
            }
        }
    }
    let mut todo: Vec<&PathBuf> = rows
        .iter()
        .map(|r| &r.path)
        .filter(|p| !table.contains_key(*p))
        .collect();
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
        let done: Vec<(PathBuf, Option<Embedding>)> = chunk
            .par_iter()
            .map(|p| ((*p).clone(), embed_centre(engine, p, limits, options)))
            .collect();
        for (p, e) in done {
            if let Some(w) = writer.as_mut() {
                let line = CacheLine {
                    path: p.to_string_lossy().into_owned(),
                    options: key.clone(),
                    embedding: e.map(|e| e.to_vec()),
                };
                let _ = writeln!(w, "{}", serde_json::to_string(&line).unwrap_or_default());
            }
            table.insert(p, e);
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
    /// Share of sightings whose own case lands in this band or stronger.
    pub true_match_rate: f64,
}

/// The result of `eval search`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub manifest: String,
    pub fusion: &'static str,
    pub population: &'static str,
    pub calibration_source: String,
    pub cases: usize,
    pub registry_photos: usize,
    pub registry_photos_without_face: usize,
    pub sightings: usize,
    pub sightings_without_face: usize,
    /// Sightings whose identity has a case (the denominator of the hit rates).
    pub sightings_with_case: usize,
    pub top1: f64,
    pub top5: f64,
    pub top10: f64,
    pub bands: Vec<BandRate>,
    /// Share of different-person photo pairs under dlib's 0.6, for comparison.
    pub impostor_pairs_under_0_6: f64,
    pub impostor_pairs: u64,
    pub seconds: f64,
}

impl SearchReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "eval search {} ({} fusion, {} calibration: {})\n\
             registry: {} cases from {} photos ({} without a face)\n\
             sightings: {} ({} without a face, {} with a case)\n\
             right case in top 1: {:.1}%  top 5: {:.1}%  top 10: {:.1}%\n",
            self.manifest,
            self.fusion,
            self.population,
            self.calibration_source,
            self.cases,
            self.registry_photos,
            self.registry_photos_without_face,
            self.sightings,
            self.sightings_without_face,
            self.sightings_with_case,
            100.0 * self.top1,
            100.0 * self.top5,
            100.0 * self.top10
        );
        s.push_str("band      ceiling  measured false-match  right case in band\n");
        for b in &self.bands {
            s.push_str(&format!(
                "{:<9} {:>6.2}%  {:>19.3}%  {:>17.1}%\n",
                b.band,
                100.0 * b.fmr_ceiling,
                100.0 * b.false_match_rate,
                100.0 * b.true_match_rate
            ));
        }
        s.push_str(&format!(
            "different-person photo pairs under dlib's 0.6: {:.2}% of {}\n{:.0} s",
            100.0 * self.impostor_pairs_under_0_6,
            self.impostor_pairs,
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
    /// Fit a calibration table on this manifest's impostor photo pairs.
    pub write_calibration: Option<&'a Path>,
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
    let table = embed_all(engine, &rows, &e.limits, &e.options, e.cache)?;

    // Ages in years are placed on a timeline starting at a notional birth
    // day, so gaps and expected ages work the same as with dates.
    let birth = Birth {
        day: Day(0),
        uncertainty_years: 0.0,
    };
    let mut ids: HashMap<&str, u64> = HashMap::new();
    let mut cases: Vec<CaseGallery> = Vec::new();
    let (mut reg_photos, mut reg_without) = (0, 0);
    for (i, r) in rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.role == Role::Registry)
    {
        reg_photos += 1;
        let Some(Some(emb)) = table.get(&r.path) else {
            reg_without += 1;
            continue;
        };
        let next = cases.len() as u64;
        let id = *ids.entry(r.identity.as_str()).or_insert(next);
        if id == next {
            cases.push(CaseGallery {
                case_id: id,
                sex: Sex::Unknown,
                birth: r.age.map(|_| birth),
                faces: Vec::new(),
            });
        }
        cases[id as usize].faces.push(GalleryFace {
            face_id: i as u64,
            photo_id: i as u64,
            embedding: *emb,
            age_years: r.age,
            day: r.day.or(r.age.map(|a| birth.day.plus_years(a))),
            enrolled_from_sighting: None,
        });
    }
    let sightings: Vec<&Row> = rows.iter().filter(|r| r.role == Role::Sighting).collect();
    let cal = &e.policy.calibration;
    let pop = e.policy.population;
    struct One {
        rank: Option<usize>,
        has_case: bool,
        own_band: Option<Band>,
        impostor_bands: [u64; 4],
        impostor_cases: u64,
        under_06: u64,
        pairs: u64,
        dists: Vec<f32>,
    }
    let fit = e.write_calibration.is_some();
    let results: Vec<Option<One>> = sightings
        .par_iter()
        .map(|r| {
            let emb = (*table.get(&r.path)?)?;
            let own = ids.get(r.identity.as_str()).copied();
            let meta = QueryMeta {
                day: r.day.or(r.age.map(|a| birth.day.plus_years(a))),
                ..QueryMeta::default()
            };
            let ranked = e.policy.rank(&[emb], &meta, &cases);
            let mut one = One {
                rank: None,
                has_case: own.is_some(),
                own_band: None,
                impostor_bands: [0; 4],
                impostor_cases: 0,
                under_06: 0,
                pairs: 0,
                dists: Vec::new(),
            };
            for (k, c) in ranked.iter().enumerate() {
                if Some(c.case_id) == own {
                    one.rank = Some(k);
                    one.own_band = Some(c.band);
                } else {
                    one.impostor_cases += 1;
                    one.impostor_bands[c.band as usize] += 1;
                }
            }
            for c in cases.iter().filter(|c| Some(c.case_id) != own) {
                for g in &c.faces {
                    let d = l2(&emb, &g.embedding);
                    one.pairs += 1;
                    one.under_06 += u64::from(d < 0.6);
                    if fit {
                        one.dists.push(d);
                    }
                }
            }
            Some(one)
        })
        .collect();
    let with_face: Vec<&One> = results.iter().flatten().collect();
    let with_case = sightings
        .iter()
        .filter(|r| ids.contains_key(r.identity.as_str()))
        .count();
    let hit = |k: usize| {
        with_face
            .iter()
            .filter(|o| o.rank.is_some_and(|r| r < k))
            .count() as f64
            / with_case.max(1) as f64
    };
    let impostor_cases: u64 = with_face.iter().map(|o| o.impostor_cases).sum();
    let pairs: u64 = with_face.iter().map(|o| o.pairs).sum();
    let under: u64 = with_face.iter().map(|o| o.under_06).sum();
    let bands = Band::QUEUED
        .iter()
        .map(|&(band, ceiling)| {
            let fm: u64 = with_face
                .iter()
                .map(|o| {
                    (0..=band as usize)
                        .map(|b| o.impostor_bands[b])
                        .sum::<u64>()
                })
                .sum();
            let tm = with_face
                .iter()
                .filter(|o| o.has_case && o.own_band.is_some_and(|b| b <= band))
                .count();
            BandRate {
                band: band.name(),
                fmr_ceiling: ceiling,
                false_match_rate: fm as f64 / impostor_cases.max(1) as f64,
                true_match_rate: tm as f64 / with_case.max(1) as f64,
            }
        })
        .collect();
    if let Some(out) = e.write_calibration {
        let dists: Vec<f32> = results
            .iter()
            .flatten()
            .flat_map(|o| o.dists.iter().copied())
            .collect();
        let fitted = Calibration::fit(
            &dists,
            &format!("dlib_face_recognition_resnet_model_v1 ({})", options_key(&e.options)),
            &format!(
                "impostor photo pairs (sighting vs registry photo of another identity) of manifest {}",
                e.manifest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ),
            ChildAnchor {
                distance: cal.child_anchor.distance,
                fmr: cal.child_anchor.fmr,
                source: cal.child_anchor.source.clone(),
            },
        );
        std::fs::write(out, fitted.to_json()).map_err(|source| CliError::Io {
            context: format!("cannot write {}", out.display()),
            source,
        })?;
    }
    Ok(SearchReport {
        manifest: e.manifest.display().to_string(),
        fusion: e.policy.fusion.name(),
        population: match pop {
            crate::ranking::Population::Child => "child",
            crate::ranking::Population::Adult => "adult",
        },
        calibration_source: cal.source.clone(),
        cases: cases.len(),
        registry_photos: reg_photos,
        registry_photos_without_face: reg_without,
        sightings: sightings.len(),
        sightings_without_face: sightings.len() - with_face.len(),
        sightings_with_case: with_case,
        top1: hit(1),
        top5: hit(5),
        top10: hit(10),
        bands,
        impostor_pairs_under_0_6: under as f64 / pairs.max(1) as f64,
        impostor_pairs: pairs,
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
    fn refuses_bad_roles_and_short_rows() {
        assert!(parse_manifest("a.jpg,ann,4,suspect\n", Path::new(".")).is_err());
        assert!(parse_manifest("a.jpg,ann\n", Path::new(".")).is_err());
        assert!(parse_manifest("a.jpg,ann,soon,registry\n", Path::new(".")).is_err());
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
    /// Case fusion to evaluate.
    #[arg(long, value_enum, default_value_t = crate::ranking::Fusion::AgeMin)]
    pub fusion: crate::ranking::Fusion,
    /// Calibration population: `adult` reads the table as fitted (use for
    /// LFW); `child` applies the children's shift.
    #[arg(long, value_enum, default_value_t = crate::ranking::Population::Child)]
    pub population: crate::ranking::Population,
    /// Calibration table to use instead of the shipped one.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Fit a calibration table on this manifest's impostor pairs and write it here.
    #[arg(long)]
    pub write_calibration: Option<PathBuf>,
    /// JSON-lines embedding cache, read and appended to.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub face: crate::cli::FaceArgs,
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

pub fn run_search(args: &SearchArgs) -> Result<crate::cli::Outcome, CliError> {
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
    let report = evaluate(
        &engine,
        &SearchEval {
            manifest: &args.manifest,
            policy: &policy,
            limits: args.face.limits(),
            options: args.face.options(),
            cache: args.cache.as_deref(),
            write_calibration: args.write_calibration.as_deref(),
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("{}", report.to_text());
    }
    Ok(crate::cli::Outcome::Success)
}

pub fn run_lfw_manifest(args: &LfwManifestArgs) -> Result<crate::cli::Outcome, CliError> {
    let text =
        lfw_manifest(&args.root, args.registry_photos, args.half).map_err(CliError::Usage)?;
    std::fs::write(&args.out, &text).map_err(|source| CliError::Io {
        context: format!("cannot write {}", args.out.display()),
        source,
    })?;
    let rows = text.lines().count().saturating_sub(1);
    eprintln!("wrote {rows} rows to {}", args.out.display());
    Ok(crate::cli::Outcome::Success)
}
