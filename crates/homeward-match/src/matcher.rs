//! The one entry point for every use case: a [`Matcher`] holds the registry,
//! the duplicate index and the policy and keeps them in step; an
//! [`Analyzer`] turns a photo into what matching needs, the same way for
//! every front.

use std::collections::HashMap;
use std::path::Path;

use homeward_core::faces::{DetectOptions, EmbedOptions, Embedder, FaceEngine, FaceOptions};
use homeward_core::intake::Limits;
use homeward_core::sface::SFace;
use homeward_core::store::{
    CaseId, CaseStatus, MatchId, MatchState, MatchStore, ModelSpec, NewCase, NewSighting,
    PhotoMeta, Registry, SightingId,
};

use crate::batch::{self, ItemResult};
use crate::matching::{
    self, Analyzed, DupIndex, EnrolledPhoto, MatchError, SightingOutcome, Surfaced,
};
use crate::models;
use crate::ranking::{Candidate, Models, Policy, QueryMeta};

/// How photos are analysed for the registry: the same through every front.
///
/// Embeddings are always flip-averaged (each face's embedding averaged with
/// its mirror image's): registry embeddings are, and a query must be read
/// the same way (measured +1–3 points of top-10 on children,
/// `docs/adr-matching.md`). There is deliberately no switch for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysis {
    /// Untrusted-input limits, checked before decoding.
    pub limits: Limits,
    /// Face detection options (upsampling, detection size cap).
    pub detect: DetectOptions,
    /// dlib's jitter count (0 or 1 = off).
    pub jitter: u32,
}

impl Default for Analysis {
    fn default() -> Self {
        let detect = DetectOptions::default();
        Analysis {
            limits: Limits {
                detect,
                ..Limits::default()
            },
            detect,
            jitter: 0,
        }
    }
}

impl Analysis {
    /// The face pipeline options: flip averaging on.
    pub fn face_options(&self) -> FaceOptions {
        FaceOptions {
            detect: self.detect,
            embed: EmbedOptions {
                jitter: self.jitter,
                flip: true,
            },
        }
    }
}

/// Reads photos into [`Analyzed`] with one [`Analysis`]: dlib's detector,
/// landmarks and embedding, and the vector of each second model (SFace
/// when bundled) from the same landmarks.
pub struct Analyzer {
    engine: FaceEngine,
    second: Vec<Box<dyn Embedder>>,
    analysis: Analysis,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("analysis", &self.analysis)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// With the models built into the binary.
    ///
    /// # Errors
    /// [`MatchError::Model`] when a bundled model fails its checks.
    pub fn bundled(analysis: Analysis) -> Result<Analyzer, MatchError> {
        Ok(Analyzer {
            engine: FaceEngine::bundled()?,
            second: vec![Box::new(SFace::bundled()?)],
            analysis,
        })
    }

    /// With an engine already loaded and no second model (dlib alone).
    pub fn new(engine: FaceEngine, analysis: Analysis) -> Analyzer {
        Self::with_models(engine, Vec::new(), analysis)
    }

    /// With an engine and the second models already loaded.
    pub fn with_models(
        engine: FaceEngine,
        second: Vec<Box<dyn Embedder>>,
        analysis: Analysis,
    ) -> Analyzer {
        Analyzer {
            engine,
            second,
            analysis,
        }
    }

    /// The second models, by registry name.
    pub fn second_model(&self, name: &str) -> Option<&dyn Embedder> {
        self.second
            .iter()
            .find(|m| m.spec().name == name)
            .map(|m| m.as_ref())
    }

    fn second_refs(&self) -> Vec<&dyn Embedder> {
        self.second.iter().map(|m| m.as_ref()).collect()
    }

    /// The second models a registry has enabled: a registry of dlib alone
    /// is not made to pay for SFace's embeddings, which it would not store.
    fn enabled_refs(&self, enabled: &[ModelSpec]) -> Vec<&dyn Embedder> {
        self.second
            .iter()
            .filter(|m| enabled.iter().any(|e| e.name == m.spec().name))
            .map(|m| m.as_ref())
            .collect()
    }

    /// The engine.
    pub fn engine(&self) -> &FaceEngine {
        &self.engine
    }

    /// The analysis settings.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// Reads and analyses a photo file, embedding it with every second
    /// model this analyser holds (what a new registry enables); for a
    /// given registry, [`Analyzer::photo_path_for`] runs only its models.
    ///
    /// # Errors
    /// [`MatchError::Decode`] when the file cannot be read, is not a photo or
    /// is over a limit (the message says which).
    pub fn photo_path(&self, path: &Path) -> Result<Analyzed, MatchError> {
        Analyzed::from_path(
            &self.engine,
            &self.second_refs(),
            path,
            &self.analysis.limits,
            &self.analysis.face_options(),
        )
    }

    /// Analyses an uploaded photo held in memory.
    ///
    /// # Errors
    /// As [`Analyzer::photo_path`].
    pub fn photo_bytes(&self, bytes: Vec<u8>) -> Result<Analyzed, MatchError> {
        self.bytes_with(bytes, &self.second_refs())
    }

    /// As [`Analyzer::photo_path`], embedding only with the second models
    /// in `enabled` (a registry's [`MatchStore::models`]): what a photo
    /// bound for one registry needs, and no more.
    ///
    /// # Errors
    /// As [`Analyzer::photo_path`].
    pub fn photo_path_for(
        &self,
        path: &Path,
        enabled: &[ModelSpec],
    ) -> Result<Analyzed, MatchError> {
        Analyzed::from_path(
            &self.engine,
            &self.enabled_refs(enabled),
            path,
            &self.analysis.limits,
            &self.analysis.face_options(),
        )
    }

    /// As [`Analyzer::photo_bytes`], embedding only with the second models
    /// in `enabled`, as [`Analyzer::photo_path_for`].
    ///
    /// # Errors
    /// As [`Analyzer::photo_path`].
    pub fn photo_bytes_for(
        &self,
        bytes: Vec<u8>,
        enabled: &[ModelSpec],
    ) -> Result<Analyzed, MatchError> {
        self.bytes_with(bytes, &self.enabled_refs(enabled))
    }

    fn bytes_with(&self, bytes: Vec<u8>, second: &[&dyn Embedder]) -> Result<Analyzed, MatchError> {
        Analyzed::from_bytes(
            &self.engine,
            second,
            bytes,
            &self.analysis.limits,
            &self.analysis.face_options(),
        )
    }
}

/// The registry, its duplicate index and the ranking policy, kept in step.
/// Every use case is a method; nothing is a match until a person confirms
/// it.
pub struct Matcher {
    reg: Box<dyn MatchStore + Send>,
    dupes: DupIndex,
    policy: Policy,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("registry", &self.reg.location())
            .finish_non_exhaustive()
    }
}

impl Matcher {
    /// Opens (or creates) the registry in `dir` and loads its duplicate
    /// index.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry cannot be opened.
    pub fn open(dir: impl AsRef<Path>, policy: Policy) -> Result<Matcher, MatchError> {
        Matcher::new(Registry::open(dir)?, policy)
    }

    /// Wraps an open registry, loading its duplicate index. A new registry
    /// that has not chosen its face models gets the defaults
    /// ([`models::choose_for_new`]).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the stored hashes cannot be read.
    pub fn new(
        reg: impl MatchStore + Send + 'static,
        policy: Policy,
    ) -> Result<Matcher, MatchError> {
        Matcher::from_store(Box::new(reg), policy)
    }

    /// [`Matcher::new`] for a store chosen at run time (SQLite or
    /// PostgreSQL).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the stored hashes cannot be read.
    pub fn from_store(
        mut reg: Box<dyn MatchStore + Send>,
        policy: Policy,
    ) -> Result<Matcher, MatchError> {
        models::choose_for_new(&mut *reg, "system")?;
        let dupes = DupIndex::load(&*reg)?;
        Ok(Matcher { reg, dupes, policy })
    }

    /// Brings this process up to date with what other processes wrote to a
    /// registry they share (PostgreSQL): the face indexes from the change
    /// log, and the duplicate index when sightings or case photos were
    /// added elsewhere. Call it before a use case that must see other
    /// processes' writes (a worker does, before each photo). Cheap, and a
    /// no-op on a registry only this process writes.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry cannot be read.
    pub fn refresh(&mut self) -> Result<(), MatchError> {
        let r = self.reg.refresh()?;
        if r.case_photos {
            // Rare (a case photo added or erased elsewhere): read every hash.
            self.dupes = DupIndex::load(&*self.reg)?;
        } else {
            // Each sighting another process recorded: its own rows only.
            self.dupes.add_stored_sightings(&*self.reg, &r.sightings)?;
        }
        Ok(())
    }

    /// The face models the ranking reads (dlib, SFace or their fusion).
    /// Pairs without a vector of the chosen model are scored by dlib.
    pub fn set_models(&mut self, m: Models) {
        self.policy.models = m;
    }

    /// Enables a face model beside dlib's (by name, see
    /// [`models::known_model`]). Stored faces get its vector from
    /// [`Matcher::reembed`]; until then they are scored by dlib alone.
    ///
    /// # Errors
    /// [`MatchError::UnknownModel`], or [`MatchError::Store`] when the
    /// registry holds another version of it.
    pub fn add_model(&mut self, actor: &str, name: &str) -> Result<(), MatchError> {
        let spec = models::known_model(name)?;
        Ok(self.reg.enable_models(actor, &[spec])?)
    }

    /// Gives up to `budget` stored faces their vector from `embedder`'s
    /// model, one transaction per `batch` faces; resumable
    /// ([`models::reembed`]).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the model is not enabled.
    pub fn reembed(
        &mut self,
        embedder: &dyn Embedder,
        budget: usize,
        batch: usize,
    ) -> Result<models::ReembedProgress, MatchError> {
        models::reembed(&mut *self.reg, embedder, budget, batch)
    }

    /// The registry, for reads.
    pub fn registry(&self) -> &dyn MatchStore {
        &*self.reg
    }

    /// The ranking policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Registers a missing child (without photos: see [`Matcher::add_photo`]).
    ///
    /// # Errors
    /// [`MatchError::Input`] when the case breaks an input rule
    /// ([`crate::input::check_case`]); [`MatchError::Store`] when the
    /// registry refuses it.
    pub fn register_case(&mut self, actor: &str, case: &NewCase) -> Result<CaseId, MatchError> {
        crate::input::check_case(case, crate::input::today()?)?;
        Ok(self.reg.add_case(actor, case)?)
    }

    /// Adds a photo to a case: its largest face joins the gallery and its
    /// hashes the duplicate index. Call [`Matcher::surface_sightings`] once
    /// the case's photos are in.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the case does not exist or the registry
    /// fails.
    pub fn add_photo(
        &mut self,
        actor: &str,
        case: CaseId,
        photo: &Analyzed,
        meta: &PhotoMeta,
    ) -> Result<EnrolledPhoto, MatchError> {
        self.reg.case(case)?;
        Ok(matching::enrol_case_photo(
            &mut *self.reg,
            Some(&mut self.dupes),
            actor,
            case,
            photo,
            meta,
        )?)
    }

    /// Ranks a case against every past sighting and queues those in a
    /// review band.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the case does not exist or the registry
    /// fails.
    pub fn surface_sightings(
        &mut self,
        actor: &str,
        case: CaseId,
    ) -> Result<Vec<Surfaced>, MatchError> {
        matching::match_case_against_sightings(&mut *self.reg, &self.policy, actor, case)
    }

    /// Records a sighting: duplicates and poster reposts first, then ranking
    /// against every searching case, queueing those in a review band. A
    /// photo with no detectable face is kept all the same (for a person to
    /// look at) with no candidates.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn submit_sighting(
        &mut self,
        actor: &str,
        photo: &Analyzed,
        sighting: &NewSighting,
        top: usize,
    ) -> Result<SightingOutcome, MatchError> {
        let out = matching::submit_sighting(
            &mut *self.reg,
            &mut self.dupes,
            &self.policy,
            actor,
            photo,
            sighting,
            top,
            None,
        )?;
        Ok(out)
    }

    /// [`Matcher::submit_sighting`] for item `item` of batch `batch`, so a
    /// resumed batch skips it ([`Matcher::batch_done`]).
    ///
    /// # Errors
    /// As [`Matcher::submit_sighting`].
    pub fn submit_batch_item(
        &mut self,
        actor: &str,
        photo: &Analyzed,
        sighting: &NewSighting,
        top: usize,
        batch: &str,
        item: &str,
    ) -> Result<SightingOutcome, MatchError> {
        let out = matching::submit_sighting(
            &mut *self.reg,
            &mut self.dupes,
            &self.policy,
            actor,
            photo,
            sighting,
            top,
            Some((batch.to_string(), item.to_string())),
        )?;
        Ok(out)
    }

    /// Records that a batch item failed (it is tried again on resume).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn record_batch_failure(
        &mut self,
        batch: &str,
        item: &str,
        error: &str,
    ) -> Result<(), MatchError> {
        Ok(self.reg.record_batch_failure(batch, item, error)?)
    }

    /// The items of a batch already recorded, with their sightings.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn batch_done(&self, batch: &str) -> Result<HashMap<String, SightingId>, MatchError> {
        Ok(self.reg.batch_done(batch)?)
    }

    /// The sighting one batch item was recorded with, if it is done.
    pub fn batch_item_sighting(
        &self,
        batch: &str,
        item: &str,
    ) -> Result<Option<SightingId>, MatchError> {
        Ok(self.reg.batch_item_sighting(batch, item)?)
    }

    /// Every item of a batch with its queued candidates, in item order.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn batch_results(&self, batch: &str) -> Result<Vec<ItemResult>, MatchError> {
        Ok(batch::collect(&*self.reg, batch)?)
    }

    /// Ranks the cases of the given statuses (searching cases when empty is
    /// not wanted: pass `&[CaseStatus::Searching]`; every case when empty)
    /// for the faces of a photo. Read-only: nothing is recorded. A photo
    /// without a face has no candidates.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn search(
        &self,
        photo: &Analyzed,
        meta: &QueryMeta,
        top: usize,
        statuses: &[CaseStatus],
    ) -> Result<Vec<Candidate>, MatchError> {
        Ok(matching::search_among(
            &*self.reg,
            &self.policy,
            &matching::query_faces(&photo.faces),
            meta,
            top,
            statuses,
        )?)
    }

    /// Confirms a pending match: the sighting's face joins the case's
    /// gallery. Returns the enrolled `(photo, face)`.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the match does not exist or is not
    /// pending.
    pub fn confirm(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
    ) -> Result<(u64, u64), MatchError> {
        matching::confirm(&mut *self.reg, reviewer, id, note)
    }

    /// Takes back a decision ([`matching::undo`]): pending again, and a
    /// confirmation's enrolled face removed. Returns the state it had.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the match does not exist or is pending.
    pub fn undo(&mut self, actor: &str, id: MatchId) -> Result<MatchState, MatchError> {
        matching::undo(&mut *self.reg, actor, id)
    }

    /// Rejects a pending match.
    ///
    /// # Errors
    /// [`MatchError::NotPending`] when it was already decided;
    /// [`MatchError::Store`] when it does not exist.
    pub fn reject(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
    ) -> Result<(), MatchError> {
        let state = self.reg.match_row(id)?.state;
        if state != MatchState::Pending {
            return Err(MatchError::NotPending {
                id,
                state: matching::state_name(state),
            });
        }
        Ok(self
            .reg
            .review_match(reviewer, id, MatchState::Rejected, note)?)
    }

    /// Sets (or, with `None`, clears) the submitter's note on a sighting.
    /// The audit log records that a note was set, never its text.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the sighting does not exist or the
    /// registry fails.
    pub fn set_sighting_note(
        &mut self,
        actor: &str,
        id: SightingId,
        note: Option<&str>,
    ) -> Result<(), MatchError> {
        Ok(self.reg.set_sighting_note(actor, id, note)?)
    }

    /// Moves a case to `status`, keeping why, and returns the status it had
    /// ([`crate::lifecycle::set_case_status`]).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the case does not exist or the registry
    /// fails.
    pub fn set_case_status(
        &mut self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<CaseStatus, MatchError> {
        crate::lifecycle::set_case_status(&mut *self.reg, actor, id, status, why)
    }

    /// Adds a case worker's note to a case ([`crate::lifecycle::add_case_note`]).
    ///
    /// # Errors
    /// [`MatchError::Input`] for a note the text rule refuses;
    /// [`MatchError::Store`] when the case does not exist.
    pub fn add_case_note(
        &mut self,
        actor: &str,
        id: CaseId,
        note: &str,
    ) -> Result<homeward_core::store::CaseEventId, MatchError> {
        crate::lifecycle::add_case_note(&mut *self.reg, actor, id, note)
    }

    /// Assigns a match to a case worker, or to nobody
    /// ([`crate::review::assign`]).
    ///
    /// # Errors
    /// [`MatchError::Input`] for a name the name rule refuses;
    /// [`MatchError::Store`] when the match does not exist.
    pub fn assign(
        &mut self,
        actor: &str,
        id: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), MatchError> {
        crate::review::assign(&mut *self.reg, actor, id, assignee)
    }

    /// Records that `reviewer` has seen `rows` ([`crate::review::mark_seen`]).
    ///
    /// # Errors
    /// [`MatchError::Store`] when the registry fails.
    pub fn mark_seen(
        &mut self,
        reviewer: &str,
        rows: &[crate::review::QueueRow],
    ) -> Result<Option<MatchId>, MatchError> {
        crate::review::mark_seen(&mut *self.reg, reviewer, rows)
    }

    /// Erases a case (photos, faces, matches) and drops it from the
    /// duplicate index.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the case does not exist or the registry
    /// fails.
    pub fn erase_case(&mut self, actor: &str, id: CaseId) -> Result<(), MatchError> {
        self.reg.erase_case(actor, id)?;
        self.dupes = DupIndex::load(&*self.reg)?;
        Ok(())
    }

    /// Saves the index and closes the registry.
    ///
    /// # Errors
    /// [`MatchError::Store`] when the index cannot be saved.
    pub fn close(self) -> Result<(), MatchError> {
        Ok(self.reg.close()?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use homeward_core::faces::DetectOptions;
    use homeward_core::store::{Sex, StoreError};

    use super::*;
    use crate::matching::Repeat;
    use crate::Band;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name)
    }

    /// One analyser for every test (the fixture faces are large: no upsampling).
    fn analyzer() -> &'static Analyzer {
        static A: OnceLock<Analyzer> = OnceLock::new();
        A.get_or_init(|| {
            let detect = DetectOptions {
                upsample: 0,
                ..DetectOptions::default()
            };
            let analysis = Analysis {
                limits: Limits {
                    detect,
                    ..Limits::default()
                },
                detect,
                jitter: 0,
            };
            Analyzer::bundled(analysis).expect("the bundled models load")
        })
    }

    fn photo(name: &str) -> Analyzed {
        analyzer()
            .photo_path(&fixture(name))
            .expect("fixture reads")
    }

    fn matcher() -> (tempfile::TempDir, Matcher) {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy = Policy::shipped().expect("shipped calibration");
        let m = Matcher::open(dir.path(), policy).expect("registry opens");
        (dir, m)
    }

    fn case(m: &mut Matcher, name: &str, photos: &[&str]) -> CaseId {
        let id = m
            .register_case(
                "test",
                &NewCase {
                    child_name: name.into(),
                    sex: Sex::Male,
                    birth_date: Some("2012-08-04".into()),
                    birth_year: None,
                    missing_date: Some("2019-06-01".into()),
                    missing_place: "test".into(),
                    missing_location: None,
                    status: CaseStatus::Searching,
                    contact_ref: None,
                    notes: None,
                },
            )
            .expect("case registered");
        for p in photos {
            let meta = PhotoMeta {
                age_months: Some(72),
                taken_date: None,
                source: Some("case".into()),
            };
            let e = m.add_photo("test", id, &photo(p), &meta).expect("photo");
            assert_eq!(e.faces, 1, "{p}");
        }
        id
    }

    fn seen(day: &str) -> NewSighting {
        NewSighting {
            seen_at: Some(day.into()),
            ..NewSighting::default()
        }
    }

    #[test]
    fn analysis_always_flip_averages() {
        let a = Analysis {
            jitter: 3,
            ..Analysis::default()
        };
        assert!(a.face_options().embed.flip);
        assert_eq!(a.face_options().embed.jitter, 3);
        assert!(photo("obama.jpg").faces[0].model.ends_with("+flip"));
    }

    #[test]
    fn a_photo_for_a_registry_is_embedded_only_by_its_models() {
        let path = fixture("obama.jpg");
        let dlib_alone = analyzer().photo_path_for(&path, &[]).expect("reads");
        assert!(dlib_alone.faces[0].vectors.is_empty(), "no SFace vector");
        let with_sface = analyzer()
            .photo_path_for(&path, &models::default_models())
            .expect("reads");
        let names: Vec<&str> = with_sface.faces[0]
            .vectors
            .iter()
            .map(|v| v.model.as_str())
            .collect();
        assert_eq!(names, [models::SFACE]);
        // dlib's own reading of the face is the same either way.
        assert_eq!(dlib_alone.faces[0].embedding, with_sface.faces[0].embedding);
        let bytes = std::fs::read(&path).expect("fixture");
        let from_bytes = analyzer().photo_bytes_for(bytes, &[]).expect("reads");
        assert!(from_bytes.faces[0].vectors.is_empty());
    }

    #[test]
    fn a_found_case_leaves_the_search_and_reopening_brings_it_back() {
        let (_d, mut m) = matcher();
        let a = case(&mut m, "A", &["obama.jpg"]);
        let q = photo("obama.jpg");
        let searching = [CaseStatus::Searching];
        let found = |m: &Matcher| {
            m.search(&q, &QueryMeta::default(), 5, &searching)
                .expect("search")
                .iter()
                .any(|c| c.case_id == a)
        };
        assert!(found(&m));
        let audit = |m: &Matcher| m.registry().audit_log().expect("audit").len();
        let before = audit(&m);
        assert_eq!(
            m.set_case_status("worker", a, CaseStatus::Found, None)
                .unwrap(),
            CaseStatus::Searching
        );
        assert_eq!(m.registry().case(a).unwrap().data.status, CaseStatus::Found);
        assert!(!found(&m), "a found case is not searched for");
        assert_eq!(audit(&m), before + 1, "who and when are audited");
        // The same status again writes nothing.
        assert_eq!(
            m.set_case_status("worker", a, CaseStatus::Found, None)
                .unwrap(),
            CaseStatus::Found
        );
        assert_eq!(audit(&m), before + 1);
        m.set_case_status("worker", a, CaseStatus::Searching, None)
            .unwrap();
        assert!(found(&m), "a reopened case is searched for again");
        assert!(matches!(
            m.set_case_status("worker", a + 99, CaseStatus::Closed, None),
            Err(MatchError::Store(StoreError::NotFound { .. }))
        ));
    }

    #[test]
    fn register_add_photo_and_search() {
        let (_d, mut m) = matcher();
        let a = case(&mut m, "A", &["obama.jpg"]);
        let c = case(&mut m, "C", &["grace_hopper.jpg"]);
        let meta = QueryMeta::default();
        let found = m
            .search(&photo("obama2.jpg"), &meta, 5, &[CaseStatus::Searching])
            .expect("search");
        assert_eq!(found.first().map(|x| x.case_id), Some(a));
        assert!(found.iter().all(|x| x.case_id == a || x.case_id == c));
        // A photo without a face has no candidates.
        let none = m
            .search(&photo("noface/brick.jpg"), &meta, 5, &[])
            .expect("search");
        assert!(none.is_empty());
    }

    #[test]
    fn sighting_is_ranked_and_queued_then_repeats_are_recognised() {
        let (_d, mut m) = matcher();
        let a = case(&mut m, "A", &["obama.jpg"]);
        let out = m
            .submit_sighting("test", &photo("obama2.jpg"), &seen("2024-03-02"), 3)
            .expect("sighting");
        assert_eq!(out.repeat, None);
        assert_eq!(out.candidates[0].case_id, a);
        assert!(out
            .queued
            .iter()
            .any(|q| q.case_id == a && q.band <= Band::Weak));
        // The same photo again joins its group.
        let again = m
            .submit_sighting("test", &photo("obama2.jpg"), &seen("2024-03-03"), 3)
            .expect("sighting");
        assert!(
            matches!(again.repeat, Some(Repeat::Duplicate { group, .. }) if group == out.sighting_id)
        );
        assert!(again.queued.is_empty());
        // The case photo, rotated and reposted, is the family's poster.
        let repost = m
            .submit_sighting("test", &photo("obama_rot15.png"), &seen("2024-03-04"), 3)
            .expect("sighting");
        assert!(
            matches!(repost.repeat, Some(Repeat::PosterRepost { case_id, .. }) if case_id == a)
        );
    }

    #[test]
    fn a_sighting_without_a_face_is_kept() {
        let (_d, mut m) = matcher();
        case(&mut m, "A", &["obama.jpg"]);
        let out = m
            .submit_sighting("test", &photo("noface/brick.jpg"), &seen("2024-03-02"), 3)
            .expect("kept, not refused");
        assert_eq!(
            (out.faces, out.candidates.len(), out.queued.len()),
            (0, 0, 0)
        );
        let stored = m.registry().sighting(out.sighting_id).expect("stored");
        assert_eq!(stored.data.seen_at.as_deref(), Some("2024-03-02"));
        assert_eq!(m.registry().sighting_count().expect("count"), 1);
    }

    #[test]
    fn a_later_case_surfaces_a_past_sighting() {
        let (_d, mut m) = matcher();
        let out = m
            .submit_sighting("test", &photo("obama2.jpg"), &seen("2024-03-02"), 3)
            .expect("sighting");
        assert!(out.candidates.is_empty());
        let a = case(&mut m, "A", &["obama.jpg"]);
        let surfaced = m.surface_sightings("test", a).expect("surfaced");
        assert_eq!(surfaced.len(), 1);
        assert_eq!(surfaced[0].sighting_id, out.sighting_id);
    }

    #[test]
    fn review_confirms_into_the_gallery_and_refuses_a_second_decision() {
        let (_d, mut m) = matcher();
        let a = case(&mut m, "A", &["obama.jpg"]);
        let out = m
            .submit_sighting("test", &photo("obama2.jpg"), &seen("2024-03-02"), 3)
            .expect("sighting");
        let q = out.queued.iter().find(|q| q.case_id == a).expect("queued");
        let before = m.registry().case_gallery(a).expect("gallery").len();
        m.confirm("reviewer", q.match_id, Some("same child"))
            .expect("confirmed");
        assert_eq!(
            m.registry().case_gallery(a).expect("gallery").len(),
            before + 1
        );
        let again = m.reject("reviewer", q.match_id, None);
        assert!(matches!(
            again,
            Err(MatchError::NotPending {
                state: "confirmed",
                ..
            })
        ));
    }

    #[test]
    fn batch_items_are_recorded_once_and_reported() {
        let (_d, mut m) = matcher();
        case(&mut m, "A", &["obama.jpg"]);
        for (item, file) in [("1", "obama2.jpg"), ("2", "noface/cell.jpg")] {
            m.submit_batch_item("test", &photo(file), &seen("2024-03-02"), 3, "b", item)
                .expect("item");
        }
        m.record_batch_failure("b", "3", "unreadable")
            .expect("failure");
        let done = m.batch_done("b").expect("done");
        assert!(done.contains_key("1") && done.contains_key("2") && !done.contains_key("3"));
        let results = m.batch_results("b").expect("results");
        let kinds: Vec<_> = results.iter().map(|r| (r.item.as_str(), r.kind)).collect();
        assert_eq!(kinds, [("1", "new"), ("2", "no_face"), ("3", "failed")]);
        assert!(!results[0].candidates.is_empty());
    }

    #[test]
    fn erase_removes_the_case_from_search_and_the_duplicate_index() {
        let (_d, mut m) = matcher();
        let a = case(&mut m, "A", &["obama.jpg"]);
        m.erase_case("test", a).expect("erased");
        assert!(m.registry().case(a).is_err());
        let found = m
            .search(&photo("obama2.jpg"), &QueryMeta::default(), 5, &[])
            .expect("search");
        assert!(found.is_empty());
        // Its photo is no longer a poster to recognise.
        let out = m
            .submit_sighting("test", &photo("obama_rot15.png"), &seen("2024-03-04"), 3)
            .expect("sighting");
        assert_eq!(out.repeat, None);
    }
}
