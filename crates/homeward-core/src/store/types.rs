//! Plain data types of the registry.

use crate::index::Embedding;
pub use crate::rules::{CaseStatus, MatchState, Sex};

/// Row id of a case.
pub type CaseId = u64;
/// Row id of a case photo.
pub type PhotoId = u64;
/// Row id of a face (of a case photo or a sighting photo).
pub type FaceId = u64;
/// Row id of a sighting.
pub type SightingId = u64;
/// Row id of a match under review.
pub type MatchId = u64;

/// Version of the export manifest written by [`super::Registry::export`].
pub const EXPORT_FORMAT_VERSION: u32 = 1;

/// A new missing-child case.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// The child's name.
    pub child_name: String,
    /// Recorded sex.
    pub sex: Sex,
    /// Birth date, ISO `YYYY-MM-DD`, if known.
    pub birth_date: Option<String>,
    /// Birth year, if only the year is known (derived from `birth_date` otherwise).
    pub birth_year: Option<i32>,
    /// Date the child went missing, ISO `YYYY-MM-DD`.
    pub missing_date: Option<String>,
    /// Where the child went missing, as text.
    pub missing_place: String,
    /// Where the child went missing, as (latitude, longitude).
    pub missing_location: Option<(f64, f64)>,
    /// Status.
    pub status: CaseStatus,
    /// Contact reference held by case workers.
    pub contact_ref: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Row id.
    pub id: CaseId,
    /// The case as entered (with `birth_year` filled from the date).
    pub data: NewCase,
}

/// Facts about a photo.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoMeta {
    /// The child's age in the photo, in months, if known.
    pub age_months: Option<u32>,
    /// The date the photo was taken, ISO `YYYY-MM-DD`, if known.
    pub taken_date: Option<String>,
    /// Where the photo came from (family, school, police, …).
    pub source: Option<String>,
}

/// One detected face, as produced by the face pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRecord {
    /// Box as `[left, top, right, bottom]` in image pixels.
    pub bbox: [f32; 4],
    /// Five landmarks as `[x, y]`.
    pub landmarks: [[f32; 2]; 5],
    /// 128-d embedding (not normalised; compare with Euclidean distance).
    pub embedding: Embedding,
    /// 256-bit perceptual hash of the aligned face chip, if computed.
    pub chip_hash: Option<[u8; 32]>,
    /// Model id and version, e.g. `dlib_face_recognition_resnet_model_v1`.
    pub model: String,
    /// The face's vectors from other embedding models (see
    /// [`super::ModelSpec`]); a store keeps those of the models it has
    /// enabled and ignores the rest.
    pub vectors: Vec<ModelVector>,
}

/// One face's vector from an embedding model other than dlib's, ready for
/// Euclidean comparison (a cosine model's vector is scaled to length 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVector {
    /// The model's name, e.g. `sface`.
    pub model: String,
    /// The model's version; vectors of two versions are never compared.
    pub version: String,
    /// The vector.
    pub vector: Vec<f32>,
}

/// A new sighting report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSighting {
    /// When it was seen, ISO 8601.
    pub seen_at: Option<String>,
    /// Where, as text.
    pub place: Option<String>,
    /// Where, as (latitude, longitude).
    pub location: Option<(f64, f64)>,
    /// Apparent age range in years.
    pub apparent_age: Option<(f32, f32)>,
    /// Apparent sex, if given.
    pub sex: Option<Sex>,
    /// Who submitted it (reference, not necessarily a name).
    pub submitter: Option<String>,
    /// Group of sightings judged to be duplicates.
    pub duplicate_group: Option<i64>,
}

/// A photo of a case that matched a query.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoHit {
    /// The photo.
    pub photo_id: PhotoId,
    /// The face in it.
    pub face_id: FaceId,
    /// Euclidean distance to the query.
    pub distance: f32,
}

/// One case ranked for review, with its nearest photos.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The case.
    pub case_id: CaseId,
    /// Distance of its nearest face.
    pub distance: f32,
    /// Its nearest faces, nearest first (as many as the search asked for).
    pub photos: Vec<PhotoHit>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: u64,
    /// UTC time, seconds since the Unix epoch.
    pub at: i64,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// On what (`case:12`, `photo:7`, …); never personal data.
    pub target: String,
}
