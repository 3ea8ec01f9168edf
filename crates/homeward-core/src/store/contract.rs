//! [`Store`]: what every registry store promises, whatever holds the data.
//! [`Registry`] (SQLite) implements it; `tests/store_contract.rs` runs one
//! suite against every implementation.

use super::journal::{CaseEvent, CaseEventId};
use super::reads::{BatchStatus, CasePhoto, CaseSummary, QueueEntry, ReviewItem, SightingSummary};
use super::registry::Registry;
use super::types::*;
use super::vectors::{FaceTable, ModelSpec, ModelStatus, PendingFace};
use super::{MatchRow, SightingExtras, StoreError};
use crate::index::{Embedding, SearchFilter};
use crate::rules::{CaseStatus, MatchState};
use std::collections::HashMap;

/// The registry's contract: cases, photos, sightings and matches, the
/// typed reads over them, erasure, and the audit log.
///
/// **Transactions.** Each write method is atomic: it commits entirely or
/// not at all, together with its audit entry. [`Store::record_sighting`]
/// writes the sighting, its faces, its photo hash, its candidate matches and
/// its batch mark in one transaction, so an interrupted batch leaves each
/// item either recorded with all of it or not at all; a match naming a face
/// the sighting lacks fails the whole call. [`Store::confirm_and_enrol`]
/// decides the match and enrols the face in one transaction. Photo bytes
/// are durable before the rows that name them commit; bytes without a row
/// (a crash in between) are removed by the next open.
///
/// **Concurrent readers.** A reader on another connection (for SQLite,
/// [`Registry::reader`]) sees every transaction committed before its
/// statement began and nothing of one in progress; a read of several
/// statements (such as [`Store::review_item`]) may see commits that landed
/// between them. Reads never block writes. Only one process writes: a
/// second [`Registry::open`] of the same directory is refused.
///
/// **Erasure.** After [`Store::erase_case`] returns, the case row, its
/// photos and their bytes (unless a sighting holds the same bytes), faces,
/// embeddings, hashes, matches and index entries are gone, from the live
/// data and from any journal or snapshot the store keeps; a search never
/// returns them again. Sightings are not the case's and stay. The audit log
/// keeps only `erase_case case:<id>` and the earlier entries, which name
/// rows by id and never hold personal data. The erased faces' vectors of
/// every model go with them, and leave every model's index.
///
/// **Model slot.** Beside dlib's embedding (in the face row), a store keeps
/// the vectors of the embedding models *enabled* in it
/// ([`Store::enable_models`]: name, version, dimension, metric; enabling is
/// one transaction with an `enable_model model:<name>` audit entry per new
/// model, and records that a choice was made, see [`Store::models_chosen`]).
/// [`Store::add_photo`], [`Store::record_sighting`] and
/// [`Store::confirm_and_enrol`] (which copies the sighting face's vectors to
/// the enrolled face) store, in their own transaction, the
/// [`FaceRecord::vectors`] of enabled models; vectors of models not enabled
/// are not kept. A vector of an enabled model with another version, another
/// length or a non-finite value is refused ([`StoreError::Invalid`]) and the
/// call writes nothing; so is enabling a model already enabled at another
/// version or length, or one whose vectors the face index cannot hold. Each
/// enabled model has its own index of case faces, kept in step with every
/// write exactly as dlib's (add photo, enrol, undo, status change,
/// erasure). Faces stored before a model was enabled are listed by
/// [`Store::pending_faces`] until a re-embedding job gives them a vector
/// with [`Store::store_vectors`] (one transaction per call; a face erased
/// meanwhile is skipped), so the job resumes where it stopped.
///
/// **Audit log.** Append-only: no method changes or removes an entry.
pub trait Store {
    /// Adds a case.
    fn add_case(&mut self, actor: &str, case: &NewCase) -> Result<CaseId, StoreError>;
    /// Reads a case.
    fn case(&self, id: CaseId) -> Result<Case, StoreError>;
    /// Changes a case's status, keeping who, when and `why` (checked as
    /// free text) in the case's journal, in one transaction.
    fn set_case_status(
        &mut self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Adds a note to a case's journal (the audit log records `add_note
    /// case:<id>`, never the text). Erased with the case.
    fn add_case_note(
        &mut self,
        actor: &str,
        id: CaseId,
        text: &str,
    ) -> Result<CaseEventId, StoreError>;
    /// A case's journal (status changes and notes), oldest first.
    fn case_events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError>;
    /// Assigns a match to a case worker, or to nobody with `None`.
    fn assign_match(
        &mut self,
        actor: &str,
        id: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Moves `reviewer`'s "seen up to" mark forward to match `upto` (never
    /// back).
    fn mark_review_seen(&mut self, reviewer: &str, upto: MatchId) -> Result<(), StoreError>;
    /// `reviewer`'s "seen up to" mark.
    fn review_seen(&self, reviewer: &str) -> Result<Option<MatchId>, StoreError>;
    /// Adds a photo of a case with its faces.
    fn add_photo(
        &mut self,
        actor: &str,
        case: CaseId,
        bytes: &[u8],
        meta: &PhotoMeta,
        faces: &[FaceRecord],
    ) -> Result<(PhotoId, Vec<FaceId>), StoreError>;
    /// Records a sighting with everything that comes with it, atomically.
    fn record_sighting(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
    ) -> Result<(SightingId, Vec<FaceId>, Vec<MatchId>), StoreError>;
    /// Sets or clears the submitter's note on a sighting.
    fn set_sighting_note(
        &mut self,
        actor: &str,
        id: SightingId,
        note: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Records a reviewer's decision.
    fn review_match(
        &mut self,
        reviewer: &str,
        id: MatchId,
        state: MatchState,
        note: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Confirms a pending match and enrols its sighting face, atomically.
    fn confirm_and_enrol(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
        meta: &PhotoMeta,
    ) -> Result<(PhotoId, FaceId), StoreError>;
    /// Takes back the decision on a match: pending again, and a
    /// confirmation's enrolled photo and face removed in the same
    /// transaction. Returns the state it had; a pending match is
    /// [`StoreError::Invalid`].
    fn undo_decision(&mut self, actor: &str, id: MatchId) -> Result<MatchState, StoreError>;
    /// One match.
    fn match_row(&self, id: MatchId) -> Result<MatchRow, StoreError>;
    /// Records that a batch item failed.
    fn record_batch_failure(
        &mut self,
        batch: &str,
        item: &str,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Erases a case and everything derived from it (see the trait docs).
    fn erase_case(&mut self, actor: &str, id: CaseId) -> Result<(), StoreError>;
    /// The `k` nearest cases, each with its `per_case` nearest photos.
    fn search_with(
        &self,
        embedding: &Embedding,
        filter: &SearchFilter,
        k: usize,
        per_case: usize,
    ) -> Result<Vec<SearchHit>, StoreError>;
    /// The audit log, oldest first.
    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every case, newest first.
    fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError>;
    /// One case in list form.
    fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError>;
    /// A case's photos, youngest first, unknown ages last.
    fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError>;
    /// The newest `limit` sightings, newest first.
    fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError>;
    /// One sighting.
    fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError>;
    /// The review queue in queue order (pending only unless `all`).
    fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError>;
    /// One match with what a reviewer needs.
    fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError>;
    /// Every batch's progress.
    fn batches(&self) -> Result<Vec<BatchStatus>, StoreError>;
    /// One batch's progress.
    fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError>;

    /// The models enabled beside dlib's, in the order they were enabled.
    fn models(&self) -> &[ModelSpec];
    /// Whether a choice of models was ever made for this registry (one made
    /// by an older build has made none).
    fn models_chosen(&self) -> Result<bool, StoreError>;
    /// Enables the `specs` not yet enabled and records that a choice was
    /// made (an empty list chooses dlib alone), in one transaction. A model
    /// enabled at another version or length is refused
    /// ([`StoreError::Invalid`]), as is one the face index cannot hold.
    fn enable_models(&mut self, actor: &str, specs: &[ModelSpec]) -> Result<(), StoreError>;
    /// Each enabled model with how many stored faces have its vector.
    fn model_status(&self) -> Result<Vec<ModelStatus>, StoreError>;
    /// Up to `limit` stored faces without a vector from `model`, case faces
    /// first, each in id order with its photo and landmarks. A model not
    /// enabled is [`StoreError::Invalid`].
    fn pending_faces(&self, model: &str, limit: usize) -> Result<Vec<PendingFace>, StoreError>;
    /// Stores `model`'s vectors of faces already stored (faces without
    /// one, as [`Store::pending_faces`] lists them), in one transaction, and
    /// indexes the case faces among them. A face erased meanwhile is skipped. Returns how many were
    /// stored. A model not enabled, or any vector of the wrong length or
    /// with a non-finite value, is [`StoreError::Invalid`] and nothing is
    /// stored.
    fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(FaceTable, FaceId, Vec<f32>)],
    ) -> Result<usize, StoreError>;
    /// `model`'s vectors of the given faces of `table`, by face id, as the
    /// 128-d vectors the ranking reads; a face without one (or a model not
    /// enabled) is absent. An enabled model of another dimension is
    /// [`StoreError::Invalid`]: read it with [`Store::model_vectors_of`].
    fn vectors_of(
        &self,
        table: FaceTable,
        model: &str,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Embedding>, StoreError> {
        super::model_checks::as_128(self.models(), model, || {
            self.model_vectors_of(table, model, ids)
        })
    }
    /// `model`'s vectors of the given faces of `table`, by face id, each of
    /// the model's dimension; a face without one (or a model not enabled)
    /// is absent.
    fn model_vectors_of(
        &self,
        table: FaceTable,
        model: &str,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Vec<f32>>, StoreError>;
    /// The `k` nearest cases to `vector` in `model`'s index among those
    /// `filter` accepts, with the distance of each one's nearest face. A
    /// model not enabled, or a vector of another dimension than the
    /// model's, is refused (`Invalid`, `Index`).
    fn search_model(
        &self,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(CaseId, f32)>, StoreError>;
}

impl Store for Registry {
    fn add_case(&mut self, actor: &str, case: &NewCase) -> Result<CaseId, StoreError> {
        Registry::add_case(self, actor, case)
    }
    fn case(&self, id: CaseId) -> Result<Case, StoreError> {
        Registry::case(self, id)
    }
    fn set_case_status(
        &mut self,
        actor: &str,
        id: CaseId,
        status: CaseStatus,
        why: Option<&str>,
    ) -> Result<(), StoreError> {
        Registry::set_case_status(self, actor, id, status, why)
    }
    fn add_case_note(
        &mut self,
        actor: &str,
        id: CaseId,
        text: &str,
    ) -> Result<CaseEventId, StoreError> {
        Registry::add_case_note(self, actor, id, text)
    }
    fn case_events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        self.reads().case_events(id)
    }
    fn assign_match(
        &mut self,
        actor: &str,
        id: MatchId,
        assignee: Option<&str>,
    ) -> Result<(), StoreError> {
        Registry::assign_match(self, actor, id, assignee)
    }
    fn mark_review_seen(&mut self, reviewer: &str, upto: MatchId) -> Result<(), StoreError> {
        Registry::mark_review_seen(self, reviewer, upto)
    }
    fn review_seen(&self, reviewer: &str) -> Result<Option<MatchId>, StoreError> {
        self.reads().review_seen(reviewer)
    }
    fn add_photo(
        &mut self,
        actor: &str,
        case: CaseId,
        bytes: &[u8],
        meta: &PhotoMeta,
        faces: &[FaceRecord],
    ) -> Result<(PhotoId, Vec<FaceId>), StoreError> {
        Registry::add_photo(self, actor, case, bytes, meta, faces)
    }
    fn record_sighting(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
    ) -> Result<(SightingId, Vec<FaceId>, Vec<MatchId>), StoreError> {
        Registry::record_sighting(self, actor, bytes, sighting, faces, extras)
    }
    fn set_sighting_note(
        &mut self,
        actor: &str,
        id: SightingId,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        Registry::set_sighting_note(self, actor, id, note)
    }
    fn review_match(
        &mut self,
        reviewer: &str,
        id: MatchId,
        state: MatchState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        Registry::review_match(self, reviewer, id, state, note)
    }
    fn confirm_and_enrol(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
        meta: &PhotoMeta,
    ) -> Result<(PhotoId, FaceId), StoreError> {
        Registry::confirm_and_enrol(self, reviewer, id, note, meta)
    }
    fn undo_decision(&mut self, actor: &str, id: MatchId) -> Result<MatchState, StoreError> {
        Registry::undo_decision(self, actor, id)
    }
    fn match_row(&self, id: MatchId) -> Result<MatchRow, StoreError> {
        Registry::match_row(self, id)
    }
    fn record_batch_failure(
        &mut self,
        batch: &str,
        item: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        Registry::record_batch_failure(self, batch, item, error)
    }
    fn erase_case(&mut self, actor: &str, id: CaseId) -> Result<(), StoreError> {
        Registry::erase_case(self, actor, id)
    }
    fn search_with(
        &self,
        embedding: &Embedding,
        filter: &SearchFilter,
        k: usize,
        per_case: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        Registry::search_with(self, embedding, filter, k, per_case)
    }
    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Registry::audit_log(self)
    }
    fn case_summaries(&self) -> Result<Vec<CaseSummary>, StoreError> {
        self.reads().case_summaries()
    }
    fn case_summary(&self, id: CaseId) -> Result<CaseSummary, StoreError> {
        self.reads().case_summary(id)
    }
    fn case_photos(&self, case: CaseId) -> Result<Vec<CasePhoto>, StoreError> {
        self.reads().case_photos(case)
    }
    fn sighting_summaries(&self, limit: u32) -> Result<Vec<SightingSummary>, StoreError> {
        self.reads().sighting_summaries(limit)
    }
    fn sighting_summary(&self, id: SightingId) -> Result<SightingSummary, StoreError> {
        self.reads().sighting_summary(id)
    }
    fn review_queue(&self, all: bool) -> Result<Vec<QueueEntry>, StoreError> {
        self.reads().review_queue(all)
    }
    fn review_item(&self, id: MatchId) -> Result<ReviewItem, StoreError> {
        self.reads().review_item(id)
    }
    fn batches(&self) -> Result<Vec<BatchStatus>, StoreError> {
        self.reads().batches()
    }
    fn batch_status(&self, name: &str) -> Result<Option<BatchStatus>, StoreError> {
        self.reads().batch_status(name)
    }
    fn models(&self) -> &[ModelSpec] {
        Registry::models(self)
    }
    fn models_chosen(&self) -> Result<bool, StoreError> {
        Registry::models_chosen(self)
    }
    fn enable_models(&mut self, actor: &str, specs: &[ModelSpec]) -> Result<(), StoreError> {
        Registry::enable_models(self, actor, specs)
    }
    fn model_status(&self) -> Result<Vec<ModelStatus>, StoreError> {
        Registry::model_status(self)
    }
    fn pending_faces(&self, model: &str, limit: usize) -> Result<Vec<PendingFace>, StoreError> {
        Registry::pending_faces(self, model, limit)
    }
    fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(FaceTable, FaceId, Vec<f32>)],
    ) -> Result<usize, StoreError> {
        Registry::store_vectors(self, model, vectors)
    }
    fn model_vectors_of(
        &self,
        table: FaceTable,
        model: &str,
        ids: &[FaceId],
    ) -> Result<HashMap<FaceId, Vec<f32>>, StoreError> {
        Registry::model_vectors_of(self, table, model, ids)
    }
    fn search_model(
        &self,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(CaseId, f32)>, StoreError> {
        Registry::search_model(self, model, vector, filter, k)
    }
}
