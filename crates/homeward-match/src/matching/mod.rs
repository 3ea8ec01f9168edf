//! Two-way matching. A new sighting is checked for duplicates first, then
//! ranked against every searching case; a new case (or case photo) is ranked
//! against every past sighting. Both fill one review queue of pending
//! matches; nothing is a match until a person confirms it, and a confirmed
//! sighting face joins the case's gallery (progressive enrolment). See
//! `docs/adr-matching.md`.

mod analyze;
mod dupes;

pub use analyze::{hash_bytes, Analyzed};
pub use dupes::{DupIndex, Repeat};

use homeward_core::index::{l2, Embedding, SearchFilter};
use homeward_core::store::{
    CaseId, CaseStatus, FaceRecord, FaceTable, MatchId, MatchOrigin, MatchStore, NewMatch,
    NewSighting, PhotoId, PhotoMeta, SightingExtras, SightingId, StoreError,
};
use serde::Serialize;

use crate::models::SFACE;
use crate::ranking::{
    Band, Birth, Candidate, CaseGallery, Day, GalleryFace, Models, Policy, QueryFace, QueryMeta,
    SfaceVectors,
};

/// Candidates queued for review per sighting, at most.
pub const QUEUE_PER_SIGHTING: usize = 5;
/// Cases fetched from the index before re-ranking with the full policy.
const SHORTLIST: usize = 50;
/// The most cases a widened shortlist fetches.
const SHORTLIST_MAX: usize = 3200;

/// What can go wrong while matching.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A photo could not be read.
    #[error(transparent)]
    Decode(#[from] homeward_core::intake::DecodeError),
    /// The calibration table is unusable.
    #[error(transparent)]
    Calibration(#[from] crate::ranking::CalibrationError),
    /// A bundled face model failed its checks.
    #[error("{0} (the models are built into the program: reinstall or rebuild it)")]
    Model(#[from] homeward_core::dlib::ModelError),
    /// A case or sighting the input rules refuse (`input.rs`).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// An export could not be written.
    #[error("the export could not be written: {0}")]
    Export(String),
    /// A face model this build does not know.
    #[error("no face model named {0:?}; this build knows: sface")]
    UnknownModel(String),
    /// The ingest queue (PostgreSQL) failed.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Queue(#[from] homeward_pg::PgError),
    /// The shared inbox of queued photos cannot be written or read.
    #[error(
        "the photo inbox {path}: {source}; check the photo root's path, permissions and free space"
    )]
    Inbox {
        /// The inbox directory.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A review decision on a match that was already decided.
    #[error("match {id} is already {state}; only a pending match can be decided")]
    NotPending {
        /// The match.
        id: MatchId,
        /// Its state.
        state: &'static str,
    },
}

impl MatchError {
    #[cfg(feature = "postgres")]
    pub(crate) fn inbox(path: &std::path::Path, source: std::io::Error) -> MatchError {
        MatchError::Inbox {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The name of a match state, as shown and stored in reports.
pub fn state_name(s: homeward_core::store::MatchState) -> &'static str {
    match s {
        homeward_core::store::MatchState::Pending => "pending",
        homeward_core::store::MatchState::Confirmed => "confirmed",
        homeward_core::store::MatchState::Rejected => "rejected",
    }
}

/// The ranking view of a stored case.
pub fn gallery(reg: &dyn MatchStore, case: CaseId) -> Result<CaseGallery, StoreError> {
    let c = reg.case(case)?;
    let birth = Birth::from_case(c.data.birth_date.as_deref(), c.data.birth_year);
    let faces = reg
        .case_gallery(case)?
        .into_iter()
        .map(|g| GalleryFace {
            face_id: g.face_id,
            photo_id: g.photo_id,
            embedding: g.embedding,
            age_years: g.meta.age_months.map(|m| f64::from(m) / 12.0),
            day: g.meta.taken_date.as_deref().and_then(Day::parse),
            enrolled_from_sighting: g.enrolled_from,
        })
        .collect();
    Ok(CaseGallery {
        case_id: case,
        sex: c.data.sex,
        birth,
        faces,
    })
}

/// The ranking view of a sighting's faces: dlib's embedding, and SFace's
/// vector when the face has one.
pub fn query_faces(faces: &[FaceRecord]) -> Vec<QueryFace> {
    faces
        .iter()
        .map(|f| QueryFace {
            dlib: f.embedding,
            sface: f
                .vectors
                .iter()
                .find(|v| v.model == SFACE)
                .and_then(|v| Embedding::try_from(v.vector.as_slice()).ok()),
        })
        .collect()
}

/// Whether `policy` reads SFace vectors and `reg` stores them.
fn reads_sface(reg: &dyn MatchStore, policy: &Policy) -> bool {
    policy.models != Models::Dlib && reg.models().iter().any(|m| m.name == SFACE)
}

/// The stored SFace vectors of the galleries' faces, when the policy reads
/// them (empty otherwise: every pair is then scored by dlib alone).
pub fn gallery_vectors(
    reg: &dyn MatchStore,
    policy: &Policy,
    galleries: &[CaseGallery],
) -> Result<SfaceVectors, StoreError> {
    if !reads_sface(reg, policy) {
        return Ok(SfaceVectors::new());
    }
    let ids: Vec<u64> = galleries
        .iter()
        .flat_map(|g| g.faces.iter().map(|f| f.face_id))
        .collect();
    reg.vectors_of(FaceTable::Case, SFACE, &ids)
}

/// The ranking view of a sighting report.
pub fn query_meta(s: &NewSighting) -> QueryMeta {
    QueryMeta {
        day: s.seen_at.as_deref().and_then(Day::parse),
        apparent_age: s.apparent_age.map(|(a, b)| (f64::from(a), f64::from(b))),
        sex: s.sex,
    }
}

/// Searching cases nearest the faces, ranked by the policy (read-only).
pub fn search(
    reg: &dyn MatchStore,
    policy: &Policy,
    faces: &[QueryFace],
    meta: &QueryMeta,
    top: usize,
) -> Result<Vec<Candidate>, StoreError> {
    search_among(reg, policy, faces, meta, top, &[CaseStatus::Searching])
}

/// [`search`] among cases of the given statuses (all cases when empty).
///
/// The shortlist is the union of each model's nearest cases (dlib's index,
/// and SFace's when the policy reads it), widened on dlib's distances until
/// no case beyond it could reach the top after the calibration's age
/// credit; the whole shortlist is then ranked by the policy.
pub fn search_among(
    reg: &dyn MatchStore,
    policy: &Policy,
    faces: &[QueryFace],
    meta: &QueryMeta,
    top: usize,
    statuses: &[CaseStatus],
) -> Result<Vec<Candidate>, StoreError> {
    let filter = SearchFilter {
        statuses: statuses.to_vec(),
        ..SearchFilter::default()
    };
    // The calibration can credit a case up to `max_credit` for the years
    // between its photos and the sighting, so a shortlist fetched by raw
    // distance is widened until no case beyond it could still reach the top.
    let credit = policy.max_credit();
    let second = reads_sface(reg, policy);
    let mut want = SHORTLIST.max(top * 5);
    let galleries = loop {
        let mut ids: Vec<CaseId> = Vec::new();
        let mut full = true;
        let mut reach = f64::INFINITY;
        for f in faces.iter().filter_map(|q| q.sface).filter(|_| second) {
            for (case, _) in reg.search_model(SFACE, &f, &filter, want)? {
                if !ids.contains(&case) {
                    ids.push(case);
                }
            }
        }
        for f in faces.iter().map(|q| &q.dlib) {
            let hits = reg.search_with(f, &filter, want, crate::policy::PER_CASE_PHOTOS)?;
            full &= hits.len() >= want;
            if let Some(last) = hits.last() {
                reach = reach.min(f64::from(last.distance));
            }
            for hit in hits {
                if !ids.contains(&hit.case_id) {
                    ids.push(hit.case_id);
                }
            }
        }
        let galleries = ids
            .into_iter()
            .map(|id| gallery(reg, id))
            .collect::<Result<Vec<_>, _>>()?;
        if credit <= 0.0 || !full || want >= SHORTLIST_MAX {
            break galleries;
        }
        // The raw distance of the top-th case's best photo bounds what an
        // unfetched case (raw distance >= reach) would need after credit.
        let mut best: Vec<f64> = galleries
            .iter()
            .filter_map(|g| {
                faces
                    .iter()
                    .flat_map(|f| {
                        g.faces
                            .iter()
                            .map(move |x| f64::from(l2(&f.dlib, &x.embedding)))
                    })
                    .min_by(f64::total_cmp)
            })
            .collect();
        best.sort_by(f64::total_cmp);
        let cut = best
            .get(top.saturating_sub(1))
            .copied()
            .unwrap_or(f64::INFINITY);
        if reach - credit > cut {
            break galleries;
        }
        want *= 4;
    };
    let vectors = gallery_vectors(reg, policy, &galleries)?;
    let mut ranked = policy.rank_faces(faces, meta, &galleries, &vectors);
    ranked.truncate(top);
    Ok(ranked)
}

/// What happened to a new sighting.
#[derive(Debug, Clone, Serialize)]
pub struct SightingOutcome {
    /// The recorded sighting.
    pub sighting_id: SightingId,
    /// Faces found in it.
    pub faces: usize,
    /// Set when it repeats a case photo or an earlier sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    /// Its candidates, best first (empty for repeats).
    pub candidates: Vec<Candidate>,
    /// Matches queued for review: `(match, case)`.
    pub queued: Vec<Queued>,
}

/// A match put in the review queue.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// Match id.
    pub match_id: MatchId,
    /// Case id.
    pub case_id: CaseId,
    /// Band.
    pub band: Band,
}

/// Records a new sighting: duplicates first, then ranking against every
/// searching case; candidates in a review band (at most
/// [`QUEUE_PER_SIGHTING`]) are queued, all in one transaction.
#[allow(clippy::too_many_arguments)]
pub fn submit_sighting(
    reg: &mut dyn MatchStore,
    dupes: &mut DupIndex,
    policy: &Policy,
    actor: &str,
    photo: &Analyzed,
    sighting: &NewSighting,
    top: usize,
    batch_item: Option<(String, String)>,
) -> Result<SightingOutcome, MatchError> {
    crate::input::check_sighting(sighting, crate::input::today()?)?;
    let repeat = dupes.check(photo);
    let mut s = sighting.clone();
    let mut extras = SightingExtras {
        pdq: photo
            .pdq
            .map(|p| (analyze::hash_bytes(&p.hashes[0]), p.quality)),
        batch_item,
        ..SightingExtras::default()
    };
    let mut candidates = Vec::new();
    match &repeat {
        Some(Repeat::PosterRepost { photo_id, .. }) => extras.repost_of_photo = Some(*photo_id),
        Some(Repeat::Duplicate { group, .. }) => s.duplicate_group = Some(*group as i64),
        None => {
            candidates = search(
                reg,
                policy,
                &query_faces(&photo.faces),
                &query_meta(&s),
                top.max(QUEUE_PER_SIGHTING),
            )?;
            for c in candidates
                .iter()
                .filter(|c| c.band <= Band::Weak)
                .take(QUEUE_PER_SIGHTING)
            {
                extras.matches.push(new_match(
                    c,
                    c.why.sighting_face as u64,
                    MatchOrigin::Sighting,
                ));
            }
            candidates.truncate(top);
        }
    }
    let (id, face_ids, match_ids) =
        reg.record_sighting(actor, &photo.bytes, &s, &photo.faces, &extras)?;
    let group = match &repeat {
        Some(Repeat::Duplicate { group, .. }) => *group,
        _ => id,
    };
    if !matches!(repeat, Some(Repeat::PosterRepost { .. })) {
        dupes.add_sighting(id, group, &face_ids, photo);
    }
    let queued = match_ids
        .iter()
        .zip(&extras.matches)
        .map(|(m, nm)| Queued {
            match_id: *m,
            case_id: nm.case_id,
            band: Band::of(nm.rank_key),
        })
        .collect();
    Ok(SightingOutcome {
        sighting_id: id,
        faces: photo.faces.len(),
        repeat,
        candidates,
        queued,
    })
}

fn new_match(c: &Candidate, face: u64, origin: MatchOrigin) -> NewMatch {
    NewMatch {
        case_id: c.case_id,
        sighting_face: face,
        origin,
        rank_key: c.case_fmr,
        scores_json: homeward_core::store::StoredScores::from_serialize(c)
            .map_or_else(|_| "{}".into(), |s| s.to_json()),
    }
}

/// A case photo as enrolled by [`enrol_case_photo`].
#[derive(Debug, Clone, Serialize)]
pub struct EnrolledPhoto {
    /// The photo row.
    pub photo_id: PhotoId,
    /// Faces enrolled (0 or 1: the largest face).
    pub faces: usize,
    /// Faces found in the photo.
    pub faces_found: usize,
    /// Set when not every face found was enrolled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Stores a case photo: its largest face joins the case's gallery (other
/// faces in a family photo are not the child), and its PDQ and chip hashes
/// are kept so that reposts of it are flagged. A photo without a face is
/// kept for repost detection only. Updates `dupes` when given.
pub fn enrol_case_photo(
    reg: &mut dyn MatchStore,
    dupes: Option<&mut DupIndex>,
    actor: &str,
    case: CaseId,
    photo: &Analyzed,
    meta: &PhotoMeta,
) -> Result<EnrolledPhoto, StoreError> {
    let (faces, warning) = match photo.largest_face() {
        Some(k) => (
            vec![photo.faces[k].clone()],
            (photo.faces.len() > 1).then(|| {
                format!(
                    "{} faces found; the largest was enrolled",
                    photo.faces.len()
                )
            }),
        ),
        None => (
            Vec::new(),
            Some("no face found; kept for repost detection only".to_string()),
        ),
    };
    let (photo_id, face_ids) = reg.add_photo(actor, case, &photo.bytes, meta, &faces)?;
    if let Some(p) = photo.pdq {
        reg.set_photo_hash(actor, photo_id, hash_bytes(&p.hashes[0]), p.quality)?;
    }
    if let Some(d) = dupes {
        d.add_case_photo(
            photo_id,
            case,
            &face_ids,
            &faces,
            photo.pdq.map(|p| p.hashes[0]),
        );
    }
    Ok(EnrolledPhoto {
        photo_id,
        faces: faces.len(),
        faces_found: photo.faces.len(),
        warning,
    })
}

/// A past sighting surfaced by a new case or photo.
#[derive(Debug, Clone, Serialize)]
pub struct Surfaced {
    /// Match id.
    pub match_id: MatchId,
    /// The sighting.
    pub sighting_id: SightingId,
    /// The candidate, as ranked for that sighting.
    pub candidate: Candidate,
}

/// Ranks `case` against every past sighting (one per duplicate group, no
/// poster reposts) and queues those in a review band, unless that sighting
/// and case already have a match.
pub fn match_case_against_sightings(
    reg: &mut dyn MatchStore,
    policy: &Policy,
    actor: &str,
    case: CaseId,
) -> Result<Vec<Surfaced>, MatchError> {
    let g = gallery(reg, case)?;
    if g.faces.is_empty() {
        return Ok(Vec::new());
    }
    let gv = gallery_vectors(reg, policy, std::slice::from_ref(&g))?;
    let faces = reg.matchable_sighting_faces()?;
    let sv = if reads_sface(reg, policy) {
        let ids: Vec<u64> = faces.iter().map(|f| f.0).collect();
        reg.vectors_of(FaceTable::Sighting, SFACE, &ids)?
    } else {
        SfaceVectors::new()
    };
    let mut out = Vec::new();
    for (face_id, sighting_id, emb) in faces {
        let s = reg.sighting(sighting_id)?;
        let q = QueryFace {
            dlib: emb,
            sface: sv.get(&face_id).copied(),
        };
        let Some(c) = policy.score_case_faces(&[q], &query_meta(&s.data), &g, &gv) else {
            continue;
        };
        if c.band > Band::Weak {
            continue;
        }
        if let Some(m) = reg.add_candidate(
            actor,
            sighting_id,
            &new_match(&c, face_id, MatchOrigin::Case),
        )? {
            out.push(Surfaced {
                match_id: m,
                sighting_id,
                candidate: c,
            });
        }
    }
    out.sort_by(|a, b| a.candidate.score.total_cmp(&b.candidate.score));
    Ok(out)
}

/// Confirms a match and enrols the sighting face into the case's gallery,
/// dated to the sighting (with the child's age then, when the birth is known).
pub fn confirm(
    reg: &mut dyn MatchStore,
    reviewer: &str,
    id: MatchId,
    note: Option<&str>,
) -> Result<(u64, u64), MatchError> {
    let m = reg.match_row(id)?;
    let s = reg.sighting(m.sighting_id)?;
    let c = reg.case(m.case_id)?;
    let day = s.data.seen_at.as_deref().and_then(Day::parse);
    let birth = Birth::from_case(c.data.birth_date.as_deref(), c.data.birth_year);
    let meta = PhotoMeta {
        age_months: birth
            .zip(day)
            .map(|(b, d)| (b.age_on(d) * 12.0).round().max(0.0) as u32),
        taken_date: day.map(Day::iso),
        source: None,
    };
    Ok(reg.confirm_and_enrol(reviewer, id, note, &meta)?)
}

/// Takes back the decision on match `id` (a mistaken confirmation or
/// rejection): the match is pending again, and a confirmation's enrolled
/// photo and face leave the case's gallery. Returns the state it had.
///
/// # Errors
/// [`MatchError::Store`] when the match does not exist, or is pending (no
/// decision to undo).
pub fn undo(
    reg: &mut dyn MatchStore,
    actor: &str,
    id: MatchId,
) -> Result<homeward_core::store::MatchState, MatchError> {
    Ok(reg.undo_decision(actor, id)?)
}
