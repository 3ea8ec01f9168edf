//! Two-way matching support: photo hashes for duplicates and poster reposts,
//! case galleries, the review queue, atomic sighting records, progressive
//! enrolment of confirmed sightings, and batch progress.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::codec::{blob_to_embedding, blob_to_f32s, check_faces, hash32, now};
use super::registry::Registry;
use super::types::*;
use super::vectors::FaceTable;
use super::StoreError;
use crate::index::{Embedding, FaceMeta};

/// A face of a case's gallery, with what ranking needs.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryRow {
    /// Face row id.
    pub face_id: FaceId,
    /// Photo row id.
    pub photo_id: PhotoId,
    /// Face box `[left, top, right, bottom]` in the photo.
    pub bbox: [f32; 4],
    /// Embedding.
    pub embedding: Embedding,
    /// The photo's facts (age, date, source).
    pub meta: PhotoMeta,
    /// Set when the photo was enrolled from a confirmed sighting.
    pub enrolled_from: Option<SightingId>,
}

/// The hashes the duplicate index holds of some sightings
/// ([`MatchStore::hashes_of_sightings`](super::MatchStore::hashes_of_sightings)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SightingHashes {
    /// `(sighting, group, PDQ hash)`, as [`Registry::sighting_hashes`].
    pub pdq: Vec<(SightingId, SightingId, [u8; 32])>,
    /// `(face, sighting, group, chip hash, embedding)`, as
    /// [`Registry::sighting_chip_hashes`].
    pub chips: Vec<(FaceId, SightingId, SightingId, [u8; 32], Embedding)>,
}

/// A stored sighting.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSighting {
    /// Row id.
    pub id: SightingId,
    /// Content hash of its photo.
    pub sha256: [u8; 32],
    /// As reported.
    pub data: NewSighting,
    /// Set when the photo is a repost of this case photo (e.g. a poster).
    pub repost_of_photo: Option<PhotoId>,
    /// When it was recorded (seconds since the Unix epoch).
    pub added_at: i64,
}

/// Which side of the two-way matching created a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOrigin {
    /// A new sighting was searched against the cases.
    Sighting,
    /// A new case or case photo was searched against past sightings.
    Case,
}

impl MatchOrigin {
    fn as_str(self) -> &'static str {
        match self {
            MatchOrigin::Sighting => "sighting",
            MatchOrigin::Case => "case",
        }
    }
}

/// A candidate match to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMatch {
    /// The case.
    pub case_id: CaseId,
    /// The sighting face that matched: an index into the faces given to
    /// [`Registry::record_sighting`], or a face row id for
    /// [`Registry::add_candidate`].
    pub sighting_face: u64,
    /// Which side created it.
    pub origin: MatchOrigin,
    /// Queue order, ascending (e.g. the estimated false-match rate).
    pub rank_key: f64,
    /// Scores and explanation, a JSON object.
    pub scores_json: String,
}

/// Everything recorded with a sighting in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SightingExtras {
    /// Whole-photo PDQ hash and its quality.
    pub pdq: Option<([u8; 32], u8)>,
    /// Case photo this sighting reposts.
    pub repost_of_photo: Option<PhotoId>,
    /// Candidate matches.
    pub matches: Vec<NewMatch>,
    /// `(batch, item)` to mark done.
    pub batch_item: Option<(String, String)>,
}

/// A match as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRow {
    /// Row id.
    pub id: MatchId,
    /// The sighting.
    pub sighting_id: SightingId,
    /// The case.
    pub case_id: CaseId,
    /// The sighting face that matched.
    pub sighting_face_id: Option<FaceId>,
    /// Review state.
    pub state: MatchState,
    /// `sighting` or `case` (None for matches recorded by [`Registry::add_match`]).
    pub origin: Option<String>,
    /// Queue order key.
    pub rank_key: Option<f64>,
    /// Scores and explanation (JSON object).
    pub scores_json: String,
    /// Who decided.
    pub reviewer: Option<String>,
    /// Their note.
    pub note: Option<String>,
    /// When created (seconds since the Unix epoch).
    pub created_at: i64,
    /// When decided (seconds since the Unix epoch).
    pub decided_at: Option<i64>,
    /// The case worker it is assigned to.
    pub assignee: Option<String>,
}

/// A batch item's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// Item key (e.g. relative path).
    pub item: String,
    /// The sighting recorded for it.
    pub sighting_id: Option<SightingId>,
    /// Why it failed.
    pub error: Option<String>,
}

const MATCH_COLS: &str = "id, sighting_id, case_id, sighting_face_id, state, origin, rank_key, \
                          scores, reviewer, note, created_at, decided_at, assignee";

fn match_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MatchRow> {
    Ok(MatchRow {
        id: r.get::<_, i64>(0)? as u64,
        sighting_id: r.get::<_, i64>(1)? as u64,
        case_id: r.get::<_, i64>(2)? as u64,
        sighting_face_id: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
        state: r.get::<_, MatchState>(4)?,
        origin: r.get(5)?,
        rank_key: r.get(6)?,
        scores_json: r.get(7)?,
        reviewer: r.get(8)?,
        note: r.get(9)?,
        created_at: r.get(10)?,
        decided_at: r.get(11)?,
        assignee: r.get(12)?,
    })
}

/// The sighting a case photo was enrolled from, read from its source
/// (`sighting:<id>`), if it was.
pub fn enrolled_from(source: Option<&str>) -> Option<SightingId> {
    source?.strip_prefix("sighting:")?.parse().ok()
}

impl Registry {
    /// All cases, or those in `status`, by id.
    pub fn cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError> {
        let ids: Vec<i64> = {
            let mut st = self
                .conn
                .prepare("SELECT id FROM cases WHERE ?1 IS NULL OR status = ?1 ORDER BY id")
                .map_err(self.sql())?;
            let rows = st
                .query_map([status.map(|s| s.as_str())], |r| r.get(0))
                .map_err(self.sql())?;
            rows.collect::<Result<_, _>>().map_err(self.sql())?
        };
        ids.into_iter().map(|id| self.case(id as u64)).collect()
    }

    /// Every face of a case's photos, with the photo's facts.
    pub fn case_gallery(&self, case: CaseId) -> Result<Vec<GalleryRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT f.id, p.id, f.embedding, p.age_months, p.taken_date, p.source, f.bbox
                 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.case_id = ?1 ORDER BY f.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([case as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Vec<u8>>(2)?,
                    PhotoMeta {
                        age_months: r.get(3)?,
                        taken_date: r.get(4)?,
                        source: r.get(5)?,
                    },
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (face_id, photo_id, blob, meta, bbox) = row.map_err(self.sql())?;
            let b = blob_to_f32s(&bbox);
            if let (Some(embedding), &[l, t, r, btm]) = (blob_to_embedding(&blob), &b[..]) {
                out.push(GalleryRow {
                    face_id,
                    photo_id,
                    bbox: [l, t, r, btm],
                    embedding,
                    enrolled_from: enrolled_from(meta.source.as_deref()),
                    meta,
                });
            }
        }
        Ok(out)
    }

    /// A sighting.
    pub fn sighting(&self, id: SightingId) -> Result<StoredSighting, StoreError> {
        self.conn
            .query_row(
                "SELECT sha256, seen_at, place, lat, lon, age_min, age_max, sex, submitter,
                        duplicate_group, repost_of_photo, added_at FROM sightings WHERE id = ?1",
                [id as i64],
                |r| {
                    let lat: Option<f64> = r.get(3)?;
                    let lon: Option<f64> = r.get(4)?;
                    let lo: Option<f64> = r.get(5)?;
                    let hi: Option<f64> = r.get(6)?;
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        NewSighting {
                            seen_at: r.get(1)?,
                            place: r.get(2)?,
                            location: lat.zip(lon),
                            apparent_age: lo.zip(hi).map(|(a, b)| (a as f32, b as f32)),
                            sex: r.get::<_, Option<Sex>>(7)?,
                            submitter: r.get(8)?,
                            duplicate_group: r.get(9)?,
                        },
                        r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
                        r.get::<_, i64>(11)?,
                    ))
                },
            )
            .optional()
            .map_err(self.sql())?
            .and_then(|(h, data, repost, added_at)| {
                Some(StoredSighting {
                    id,
                    sha256: hash32(h)?,
                    data,
                    repost_of_photo: repost,
                    added_at,
                })
            })
            .ok_or(StoreError::NotFound {
                what: "sighting",
                id,
            })
    }

    /// Number of sightings.
    pub fn sighting_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM sightings", [], |r| r.get::<_, i64>(0))
            .map(|v| v as u64)
            .map_err(self.sql())
    }

    /// The faces of a sighting, by id.
    pub fn sighting_faces(
        &self,
        sighting: SightingId,
    ) -> Result<Vec<(FaceId, FaceRecord)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, bbox, landmarks, embedding, chip_hash, model FROM sighting_faces
                 WHERE sighting_id = ?1 ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([sighting as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, bbox, lm, emb, chip, model) = row.map_err(self.sql())?;
            let (b, l) = (blob_to_f32s(&bbox), blob_to_f32s(&lm));
            let (Some(embedding), true, true) =
                (blob_to_embedding(&emb), b.len() == 4, l.len() == 10)
            else {
                continue;
            };
            let mut landmarks = [[0f32; 2]; 5];
            for (i, p) in landmarks.iter_mut().enumerate() {
                *p = [l[2 * i], l[2 * i + 1]];
            }
            out.push((
                id,
                FaceRecord {
                    bbox: [b[0], b[1], b[2], b[3]],
                    landmarks,
                    embedding,
                    chip_hash: chip.and_then(hash32),
                    model,
                    vectors: self.face_model_vectors(FaceTable::Sighting, id)?,
                },
            ));
        }
        Ok(out)
    }

    /// Faces of the sightings a new case is matched against: one sighting
    /// per duplicate group (its first), never poster reposts.
    pub fn matchable_sighting_faces(
        &self,
    ) -> Result<Vec<(FaceId, SightingId, Embedding)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT f.id, s.id, f.embedding FROM sighting_faces f JOIN sightings s ON s.id = f.sighting_id
                 WHERE s.repost_of_photo IS NULL AND (s.duplicate_group IS NULL OR s.duplicate_group = s.id)
                 ORDER BY f.id",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (f, s, b) = row.map_err(self.sql())?;
            if let Some(e) = blob_to_embedding(&b) {
                out.push((f, s, e));
            }
        }
        Ok(out)
    }

    /// Sightings of a duplicate group (the group id is its first sighting's id).
    pub fn duplicate_group(&self, group: SightingId) -> Result<Vec<SightingId>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM sightings WHERE id = ?1 OR duplicate_group = ?1 ORDER BY id")
            .map_err(self.sql())?;
        let rows = st
            .query_map([group as i64], |r| r.get::<_, i64>(0))
            .map_err(self.sql())?;
        rows.map(|r| r.map(|v| v as u64))
            .collect::<Result<_, _>>()
            .map_err(self.sql())
    }

    /// PDQ hashes of case photos (not of photos enrolled from sightings):
    /// `(photo, case, hash)`.
    pub fn photo_hashes(&self) -> Result<Vec<(PhotoId, CaseId, [u8; 32])>, StoreError> {
        self.pdq_rows(
            "SELECT h.photo_id, p.case_id, h.pdq FROM image_hashes h JOIN photos p ON p.id = h.photo_id
             ORDER BY h.id",
            [],
        )
    }

    /// PDQ hashes of sightings: `(sighting, group, hash)`, the group being
    /// the sighting's duplicate group or itself.
    pub fn sighting_hashes(&self) -> Result<Vec<(SightingId, SightingId, [u8; 32])>, StoreError> {
        self.pdq_rows(
            "SELECT s.id, coalesce(s.duplicate_group, s.id), h.pdq FROM image_hashes h
             JOIN sightings s ON s.id = h.sighting_id ORDER BY h.id",
            [],
        )
    }

    /// [`Registry::sighting_hashes`] and [`Registry::sighting_chip_hashes`]
    /// of these sightings only.
    pub fn hashes_of_sightings(&self, ids: &[SightingId]) -> Result<SightingHashes, StoreError> {
        if ids.is_empty() {
            return Ok(SightingHashes::default());
        }
        // One parameter whatever the number of ids: a JSON array.
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Invalid {
            field: "sighting ids",
            why: e.to_string(),
        })?;
        Ok(SightingHashes {
            pdq: self.pdq_rows(
                "SELECT s.id, coalesce(s.duplicate_group, s.id), h.pdq FROM image_hashes h
                 JOIN sightings s ON s.id = h.sighting_id
                 WHERE s.id IN (SELECT value FROM json_each(?1)) ORDER BY h.id",
                [&list],
            )?,
            chips: self.chip_hash_rows(
                "SELECT f.id, s.id, coalesce(s.duplicate_group, s.id), f.chip_hash, f.embedding
                 FROM sighting_faces f JOIN sightings s ON s.id = f.sighting_id
                 WHERE f.chip_hash IS NOT NULL AND s.id IN (SELECT value FROM json_each(?1))
                 ORDER BY f.id",
                [&list],
            )?,
        })
    }

    /// Runs a query whose rows are `(id, id, hash blob)`, keeping the rows
    /// whose hash is well formed.
    fn pdq_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(u64, u64, [u8; 32])>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.sql())?;
        let rows = st
            .query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (a, b, h) = row.map_err(self.sql())?;
            if let Some(h) = hash32(h) {
                out.push((a, b, h));
            }
        }
        Ok(out)
    }

    /// Face-chip hashes of case photos not enrolled from sightings:
    /// `(face, photo, case, hash, embedding)`.
    #[allow(clippy::type_complexity)]
    pub fn case_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, PhotoId, CaseId, [u8; 32], Embedding)>, StoreError> {
        self.chip_hash_rows(
            "SELECT f.id, p.id, p.case_id, f.chip_hash, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id
             WHERE f.chip_hash IS NOT NULL AND (p.source IS NULL OR p.source NOT LIKE 'sighting:%')
             ORDER BY f.id",
            [],
        )
    }

    /// Face-chip hashes of sightings: `(face, sighting, group, hash, embedding)`.
    #[allow(clippy::type_complexity)]
    pub fn sighting_chip_hashes(
        &self,
    ) -> Result<Vec<(FaceId, SightingId, SightingId, [u8; 32], Embedding)>, StoreError> {
        self.chip_hash_rows(
            "SELECT f.id, s.id, coalesce(s.duplicate_group, s.id), f.chip_hash, f.embedding FROM sighting_faces f
             JOIN sightings s ON s.id = f.sighting_id WHERE f.chip_hash IS NOT NULL ORDER BY f.id",
            [],
        )
    }

    /// Runs a query whose rows are `(id, id, id, chip hash blob, embedding
    /// blob)`, keeping the rows whose blobs are well formed.
    #[allow(clippy::type_complexity)]
    fn chip_hash_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(u64, u64, u64, [u8; 32], Embedding)>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.sql())?;
        let rows = st
            .query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (a, b, c, h, e) = row.map_err(self.sql())?;
            if let (Some(h), Some(e)) = (hash32(h), blob_to_embedding(&e)) {
                out.push((a, b, c, h, e));
            }
        }
        Ok(out)
    }

    /// Records a sighting with its photo and detected faces.
    pub fn add_sighting(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
    ) -> Result<(SightingId, Vec<FaceId>), StoreError> {
        // One write path for sightings: with no extras this is exactly the
        // plain sighting (no hashes, matches or batch mark).
        let (id, face_ids, _) =
            self.record_sighting(actor, bytes, sighting, faces, &SightingExtras::default())?;
        Ok((id, face_ids))
    }

    /// Stores the PDQ hash of a case photo.
    pub fn set_photo_hash(
        &mut self,
        actor: &str,
        photo: PhotoId,
        pdq: [u8; 32],
        quality: u8,
    ) -> Result<(), StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO image_hashes (photo_id, pdq, quality) VALUES (?1, ?2, ?3)",
            params![photo as i64, pdq.to_vec(), quality],
        )
        .map_err(sql)?;
        Self::audit(&tx, actor, "hash_photo", &format!("photo:{photo}")).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Records a sighting with its faces, PDQ hash, repost flag, candidate
    /// matches and batch progress in **one** transaction, so an interrupted
    /// run leaves either all of it or none. Returns the sighting, its face ids
    /// and the match ids.
    pub fn record_sighting(
        &mut self,
        actor: &str,
        bytes: &[u8],
        sighting: &NewSighting,
        faces: &[FaceRecord],
        extras: &SightingExtras,
    ) -> Result<(SightingId, Vec<FaceId>, Vec<MatchId>), StoreError> {
        check_faces(faces)?;
        self.check_vectors(faces)?;
        if bytes.is_empty() {
            return Err(StoreError::Invalid {
                field: "photo",
                why: "no bytes".into(),
            });
        }
        if let Some(m) = extras
            .matches
            .iter()
            .find(|m| m.sighting_face as usize >= faces.len())
        {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!(
                    "face index {} but the sighting has {} face(s)",
                    m.sighting_face,
                    faces.len()
                ),
            });
        }
        let h = super::files::sha256(bytes);
        self.files.put(&h, bytes)?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let s = sighting;
        tx.execute(
            "INSERT INTO sightings (sha256, byte_len, seen_at, place, lat, lon, age_min, age_max, sex,
                                    submitter, duplicate_group, repost_of_photo, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                h.to_vec(),
                bytes.len() as i64,
                s.seen_at,
                s.place,
                s.location.map(|l| l.0),
                s.location.map(|l| l.1),
                s.apparent_age.map(|a| a.0 as f64),
                s.apparent_age.map(|a| a.1 as f64),
                s.sex.map(|x| x.as_str()),
                s.submitter,
                s.duplicate_group,
                extras.repost_of_photo.map(|p| p as i64),
                now()
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid() as u64;
        let face_ids = Self::insert_faces(
            &tx,
            FaceTable::Sighting,
            self.models.specs(),
            id as i64,
            faces,
        )
        .map_err(sql)?;
        Self::audit(&tx, actor, "add_sighting", &format!("sighting:{id}")).map_err(sql)?;
        if let Some((pdq, q)) = extras.pdq {
            tx.execute(
                "INSERT INTO image_hashes (sighting_id, pdq, quality) VALUES (?1, ?2, ?3)",
                params![id as i64, pdq.to_vec(), q],
            )
            .map_err(sql)?;
        }
        let mut match_ids = Vec::new();
        for m in &extras.matches {
            let face = face_ids[m.sighting_face as usize];
            let mid = Self::insert_match(&tx, actor, id, face, m).map_err(sql)?;
            match_ids.push(mid);
        }
        if let Some((batch, item)) = &extras.batch_item {
            tx.execute(
                "INSERT OR REPLACE INTO batch_items (batch, item, sighting_id, error, done_at)
                 VALUES (?1, ?2, ?3, NULL, ?4)",
                params![batch, item, id as i64, now()],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok((id, face_ids, match_ids))
    }

    fn insert_match(
        tx: &rusqlite::Transaction<'_>,
        actor: &str,
        sighting: SightingId,
        face: FaceId,
        m: &NewMatch,
    ) -> rusqlite::Result<MatchId> {
        tx.execute(
            "INSERT INTO matches (sighting_id, case_id, scores, state, created_at, sighting_face_id, origin, rank_key)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7)",
            params![
                sighting as i64,
                m.case_id as i64,
                m.scores_json,
                now(),
                face as i64,
                m.origin.as_str(),
                m.rank_key
            ],
        )?;
        let mid = tx.last_insert_rowid() as u64;
        Self::audit(tx, actor, "add_match", &format!("match:{mid}"))?;
        Ok(mid)
    }

    /// Records a candidate match between an existing sighting face and a
    /// case, unless that sighting and case already have a match (in any
    /// state). Returns the new match id, or `None` when one existed.
    pub fn add_candidate(
        &mut self,
        actor: &str,
        sighting: SightingId,
        m: &NewMatch,
    ) -> Result<Option<MatchId>, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM matches WHERE sighting_id = ?1 AND case_id = ?2)",
                params![sighting as i64, m.case_id as i64],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if exists {
            return Ok(None);
        }
        let id =
            Self::insert_match(&tx, actor, sighting, m.sighting_face, m).map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Invalid {
                        field: "match",
                        why: format!(
                            "sighting {sighting}, its face {} or case {} does not exist",
                            m.sighting_face, m.case_id
                        ),
                    }
                }
                other => sql(other),
            })?;
        tx.commit().map_err(sql)?;
        Ok(Some(id))
    }

    /// Matches in `state` (all when `None`): pending ones in queue order
    /// (`rank_key` ascending), others newest first.
    pub fn matches(&self, state: Option<MatchState>) -> Result<Vec<MatchRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {MATCH_COLS} FROM matches WHERE ?1 IS NULL OR state = ?1
                 ORDER BY state = 'pending' DESC, CASE WHEN state = 'pending' THEN rank_key END ASC, id DESC"
            ))
            .map_err(self.sql())?;
        let rows = st
            .query_map([state.map(|s| s.as_str())], match_row)
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Matches of one sighting, in queue order.
    pub fn matches_of_sighting(&self, sighting: SightingId) -> Result<Vec<MatchRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MATCH_COLS} FROM matches WHERE sighting_id = ?1 ORDER BY rank_key, id"
            ))
            .map_err(self.sql())?;
        let rows = st
            .query_map([sighting as i64], match_row)
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// One match.
    pub fn match_row(&self, id: MatchId) -> Result<MatchRow, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {MATCH_COLS} FROM matches WHERE id = ?1"),
                [id as i64],
                match_row,
            )
            .optional()
            .map_err(self.sql())?
            .ok_or(StoreError::NotFound { what: "match", id })
    }

    /// Confirms a pending match and, in the same transaction, enrols the
    /// matched sighting face into the case's gallery as a photo dated
    /// `meta` (its `source` is set to `sighting:<id>`), so later searches
    /// use it. Returns the new photo and face ids.
    pub fn confirm_and_enrol(
        &mut self,
        reviewer: &str,
        id: MatchId,
        note: Option<&str>,
        meta: &PhotoMeta,
    ) -> Result<(PhotoId, FaceId), StoreError> {
        let m = self.match_row(id)?;
        if m.state != MatchState::Pending {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} is already {}", m.state.as_str()),
            });
        }
        let c = self.case(m.case_id)?;
        let s = self.sighting(m.sighting_id)?;
        let faces = self.sighting_faces(m.sighting_id)?;
        let face = m
            .sighting_face_id
            .and_then(|f| faces.iter().find(|(id, _)| *id == f))
            .or(faces.first())
            .map(|(_, f)| f.clone())
            .ok_or(StoreError::Invalid {
                field: "match",
                why: format!("sighting {} has no face to enrol", m.sighting_id),
            })?;
        let byte_len: i64 = self
            .conn
            .query_row(
                "SELECT byte_len FROM sightings WHERE id = ?1",
                [m.sighting_id as i64],
                |r| r.get(0),
            )
            .map_err(self.sql())?;
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "UPDATE matches SET state = 'confirmed', reviewer = ?1, decided_at = ?2, note = ?3 WHERE id = ?4",
            params![reviewer, now(), note, id as i64],
        )
        .map_err(sql)?;
        Self::audit(&tx, reviewer, "review:confirmed", &format!("match:{id}")).map_err(sql)?;
        tx.execute(
            "INSERT INTO photos (case_id, sha256, byte_len, age_months, taken_date, source, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                m.case_id as i64,
                s.sha256.to_vec(),
                byte_len,
                meta.age_months,
                meta.taken_date,
                format!("sighting:{}", m.sighting_id),
                now()
            ],
        )
        .map_err(sql)?;
        let photo = tx.last_insert_rowid() as u64;
        let face_ids = Self::insert_faces(
            &tx,
            FaceTable::Case,
            self.models.specs(),
            photo as i64,
            std::slice::from_ref(&face),
        )
        .map_err(sql)?;
        Self::audit(&tx, reviewer, "enrol_sighting", &format!("photo:{photo}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        let fm = FaceMeta {
            case_id: m.case_id,
            sex: c.data.sex,
            birth_year: c.data.birth_year,
            location: c.data.missing_location,
            status: c.data.status,
        };
        self.index.insert(face_ids[0], &face.embedding, fm)?;
        self.models.insert(face_ids[0], &face, fm);
        Ok((photo, face_ids[0]))
    }

    /// Takes back the decision on match `id`: the match is pending again,
    /// and when it had been confirmed the photo and face its confirmation
    /// enrolled in the case's gallery (source `sighting:<id>`) are removed,
    /// from the rows and the index, in the same transaction. The sighting
    /// keeps its own copy of the bytes. Returns the state it had.
    pub fn undo_decision(&mut self, actor: &str, id: MatchId) -> Result<MatchState, StoreError> {
        let m = self.match_row(id)?;
        if m.state == MatchState::Pending {
            return Err(StoreError::Invalid {
                field: "match",
                why: format!("match {id} is pending; there is no decision to undo"),
            });
        }
        let sql = |source| StoreError::Sqlite {
            path: self.db_path.clone(),
            source,
        };
        let source = format!("sighting:{}", m.sighting_id);
        let tx = self.conn.transaction().map_err(sql)?;
        let mut enrolled = Vec::new();
        if m.state == MatchState::Confirmed {
            let mut st = tx
                .prepare(
                    "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id
                     WHERE p.case_id = ?1 AND p.source = ?2",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(params![m.case_id as i64, source], |r| r.get::<_, i64>(0))
                .map_err(sql)?;
            for r in rows {
                enrolled.push(r.map_err(sql)? as u64);
            }
            drop(st);
            // Faces go with their photo (ON DELETE CASCADE).
            tx.execute(
                "DELETE FROM photos WHERE case_id = ?1 AND source = ?2",
                params![m.case_id as i64, source],
            )
            .map_err(sql)?;
        }
        tx.execute(
            "UPDATE matches SET state = 'pending', reviewer = NULL, decided_at = NULL, note = NULL
             WHERE id = ?1",
            [id as i64],
        )
        .map_err(sql)?;
        Self::audit(&tx, actor, "review:undone", &format!("match:{id}")).map_err(sql)?;
        tx.commit().map_err(sql)?;
        for f in enrolled {
            self.index.remove(f);
            self.models.remove(f);
        }
        Ok(m.state)
    }

    /// Items of a batch, in item order.
    pub fn batch_items(&self, batch: &str) -> Result<Vec<BatchItem>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT item, sighting_id, error FROM batch_items WHERE batch = ?1 ORDER BY item",
            )
            .map_err(self.sql())?;
        let rows = st
            .query_map([batch], |r| {
                Ok(BatchItem {
                    item: r.get(0)?,
                    sighting_id: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                    error: r.get(2)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Items of a batch already recorded with a sighting.
    pub fn batch_done(&self, batch: &str) -> Result<HashMap<String, SightingId>, StoreError> {
        Ok(self
            .batch_items(batch)?
            .into_iter()
            .filter_map(|b| Some((b.item, b.sighting_id?)))
            .collect())
    }

    /// The sighting one batch item was recorded with, if it is done.
    pub fn batch_item_sighting(
        &self,
        batch: &str,
        item: &str,
    ) -> Result<Option<SightingId>, StoreError> {
        self.conn
            .query_row(
                "SELECT sighting_id FROM batch_items WHERE batch = ?1 AND item = ?2",
                [batch, item],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|v| v.flatten().map(|v| v as u64))
            .map_err(self.sql())
    }

    /// Records that a batch item failed (it is tried again on the next run).
    pub fn record_batch_failure(
        &mut self,
        batch: &str,
        item: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO batch_items (batch, item, sighting_id, error, done_at)
                 VALUES (?1, ?2, NULL, ?3, ?4)",
                params![batch, item, error, now()],
            )
            .map(|_| ())
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32) -> FaceRecord {
        let mut embedding = [0f32; 128];
        embedding[0] = x;
        FaceRecord {
            bbox: [0.0, 0.0, 10.0, 10.0],
            landmarks: [[1.0, 1.0]; 5],
            embedding,
            chip_hash: Some([x.to_bits() as u8; 32]),
            model: "test".into(),
            vectors: Vec::new(),
        }
    }

    fn case(reg: &mut Registry) -> CaseId {
        reg.add_case(
            "t",
            &NewCase {
                child_name: "A".into(),
                sex: Sex::Female,
                birth_date: Some("2015-01-01".into()),
                birth_year: None,
                missing_date: None,
                missing_place: String::new(),
                missing_location: None,
                status: CaseStatus::Searching,
                contact_ref: None,
                notes: None,
            },
        )
        .unwrap()
    }

    fn nm(case_id: CaseId, face: u64, key: f64) -> NewMatch {
        NewMatch {
            case_id,
            sighting_face: face,
            origin: MatchOrigin::Sighting,
            rank_key: key,
            scores_json: format!("{{\"k\":{key}}}"),
        }
    }

    #[test]
    fn sighting_matches_and_batch_mark_commit_together_and_queue_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let (a, b) = (case(&mut reg), case(&mut reg));
        let extras = SightingExtras {
            pdq: Some(([7; 32], 90)),
            matches: vec![nm(a, 0, 0.02), nm(b, 1, 0.001)],
            batch_item: Some(("b1".into(), "x.jpg".into())),
            ..SightingExtras::default()
        };
        let (s, faces, ms) = reg
            .record_sighting(
                "t",
                b"photo",
                &NewSighting::default(),
                &[face(0.1), face(0.2)],
                &extras,
            )
            .unwrap();
        assert_eq!((faces.len(), ms.len()), (2, 2));
        assert_eq!(reg.batch_done("b1").unwrap().get("x.jpg"), Some(&s));
        let queue = reg.matches(Some(MatchState::Pending)).unwrap();
        assert_eq!(
            queue.iter().map(|m| m.case_id).collect::<Vec<_>>(),
            vec![b, a]
        );
        assert_eq!(queue[0].sighting_face_id, Some(faces[1]));
        assert_eq!(reg.sighting_hashes().unwrap(), vec![(s, s, [7; 32])]);
        // A match naming a face the sighting lacks is refused, and nothing is written.
        let bad = SightingExtras {
            matches: vec![nm(a, 5, 0.1)],
            batch_item: Some(("b1".into(), "y.jpg".into())),
            ..SightingExtras::default()
        };
        assert!(reg
            .record_sighting("t", b"p2", &NewSighting::default(), &[face(0.3)], &bad)
            .is_err());
        assert_eq!(reg.sighting_count().unwrap(), 1);
        assert!(!reg.batch_done("b1").unwrap().contains_key("y.jpg"));
        // One match per sighting and case.
        assert_eq!(
            reg.add_candidate("t", s, &nm(a, faces[0], 0.1)).unwrap(),
            None
        );
    }

    #[test]
    fn confirming_enrols_the_face_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        reg.add_photo("t", a, b"case photo", &PhotoMeta::default(), &[face(0.5)])
            .unwrap();
        let extras = SightingExtras {
            matches: vec![nm(a, 0, 0.01)],
            ..SightingExtras::default()
        };
        let (s, _, ms) = reg
            .record_sighting(
                "t",
                b"sighting",
                &NewSighting::default(),
                &[face(0.45)],
                &extras,
            )
            .unwrap();
        let meta = PhotoMeta {
            age_months: Some(110),
            taken_date: Some("2024-03-01".into()),
            source: None,
        };
        let (photo, f) = reg
            .confirm_and_enrol("rev", ms[0], Some("ok"), &meta)
            .unwrap();
        let g = reg.case_gallery(a).unwrap();
        assert_eq!(g.len(), 2);
        let enrolled = g.iter().find(|r| r.face_id == f).unwrap();
        assert_eq!(
            (enrolled.photo_id, enrolled.enrolled_from),
            (photo, Some(s))
        );
        assert_eq!(enrolled.meta.age_months, Some(110));
        assert_eq!(reg.match_state(ms[0]).unwrap(), MatchState::Confirmed);
        assert!(reg.confirm_and_enrol("rev", ms[0], None, &meta).is_err());
        // The enrolled photo is searchable and is not a poster to detect reposts of.
        assert_eq!(
            reg.search_with(&face(0.45).embedding, &Default::default(), 1, 3)
                .unwrap()[0]
                .photos[0]
                .photo_id,
            photo
        );
        assert!(reg.case_chip_hashes().unwrap().iter().all(|c| c.1 != photo));
    }

    #[test]
    fn new_cases_see_one_sighting_per_group_and_no_reposts() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        let (p, _) = reg
            .add_photo("t", a, b"poster", &PhotoMeta::default(), &[face(0.5)])
            .unwrap();
        let none = SightingExtras::default();
        let (first, _, _) = reg
            .record_sighting("t", b"s1", &NewSighting::default(), &[face(0.1)], &none)
            .unwrap();
        let dup = NewSighting {
            duplicate_group: Some(first as i64),
            ..NewSighting::default()
        };
        reg.record_sighting("t", b"s2", &dup, &[face(0.11)], &none)
            .unwrap();
        let repost = SightingExtras {
            repost_of_photo: Some(p),
            ..SightingExtras::default()
        };
        let (r, _, _) = reg
            .record_sighting("t", b"s3", &NewSighting::default(), &[face(0.5)], &repost)
            .unwrap();
        let seen: Vec<u64> = reg
            .matchable_sighting_faces()
            .unwrap()
            .iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(seen, vec![first]);
        assert_eq!(reg.sighting(r).unwrap().repost_of_photo, Some(p));
        assert_eq!(reg.duplicate_group(first).unwrap().len(), 2);
    }

    #[test]
    fn a_version_1_registry_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        reg.close().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
        conn.execute_batch(
            "DROP TABLE batch_items; DROP TABLE image_hashes;
             DROP INDEX matches_state;
             ALTER TABLE matches DROP COLUMN sighting_face_id; ALTER TABLE matches DROP COLUMN origin;
             ALTER TABLE matches DROP COLUMN rank_key; ALTER TABLE sightings DROP COLUMN repost_of_photo;
             ALTER TABLE sightings DROP COLUMN note;
             DROP TABLE face_vectors; DROP TABLE sighting_face_vectors; DROP TABLE models;
             DROP TABLE case_events; DROP TABLE review_marks; ALTER TABLE matches DROP COLUMN assignee;
             DELETE FROM registry_meta WHERE key = 'models_chosen';
             DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(reg.case(a).unwrap().data.child_name, "A");
        reg.set_photo_hash("t", 0, [0; 32], 0).unwrap_err(); // no photo 0: FK refuses
        assert!(reg.batch_items("x").unwrap().is_empty());
    }

    #[test]
    fn a_version_2_registry_loses_its_old_chip_hashes_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        let mut f = face(0.1);
        f.chip_hash = Some([7; 32]);
        reg.add_photo(
            "t",
            a,
            b"photo",
            &PhotoMeta::default(),
            std::slice::from_ref(&f),
        )
        .unwrap();
        reg.close().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
        conn.execute_batch(
            "ALTER TABLE sightings DROP COLUMN note;
             DROP TABLE face_vectors; DROP TABLE sighting_face_vectors; DROP TABLE models;
             DROP TABLE case_events; DROP TABLE review_marks; ALTER TABLE matches DROP COLUMN assignee;
             DELETE FROM registry_meta WHERE key = 'models_chosen';
             DROP TABLE notify_deliveries; DELETE FROM registry_meta WHERE key = 'notify_floor';
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(conn);
        let reg = Registry::open(dir.path()).unwrap();
        // Version-1 chip hashes are not comparable with today's: dropped.
        assert!(reg.case_chip_hashes().unwrap().is_empty());
        // The face itself, its embedding and the photo stay.
        let g = reg.case_gallery(a).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].embedding, f.embedding);
    }
}
