//! [`MatchStore`] on PostgreSQL: the rows the matching library ranks and
//! deduplicates with (sightings and their faces, photo and face-chip
//! hashes, candidate matches, batch items), with the SQLite registry's
//! semantics (`homeward_core::store`'s `matching.rs`): the same orderings,
//! the same duplicate-group and repost rules, the same audit lines.
//!
//! Neither write here changes what this store's indexes hold (they hold
//! case faces; matches and PDQ hashes are not in them), so neither appends
//! to the change log, as `record_sighting` writes its PDQ hash and matches
//! without an entry. [`MatchStore::refresh`] is where a shared store
//! follows the others ([`PgStore::catch_up`]).

use std::path::PathBuf;

use homeward_core::index::{Embedding, FaceIndex};
use homeward_core::store::{
    enrolled_from, BatchItem, CaseId, FaceId, FaceRecord, FaceTable, GalleryRow, MatchId, MatchRow,
    MatchStore, ModelVector, NewMatch, NewSighting, PhotoId, PhotoMeta, Refreshed, SightingHashes,
    SightingId, StoreError, StoredSighting,
};
use postgres::error::SqlState;
use postgres::types::ToSql;

use crate::changelog::{self, Change};
use crate::rows::{
    age_months, audit, bytes_embedding, face_record, hash32, id, insert_match, sighting_facts,
    sql_id, MATCH_COLS,
};
use crate::{error, PgStore};

/// A row of [`MatchStore::case_chip_hashes`] or
/// [`MatchStore::sighting_chip_hashes`]: three ids, the hash, the embedding.
type ChipRow = (u64, u64, u64, [u8; 32], Embedding);

impl PgStore {
    /// Runs a query whose rows are `(id, id, hash)`, keeping the rows whose
    /// hash is well formed.
    fn hash_rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<(u64, u64, [u8; 32])>, StoreError> {
        let rows = self.lock().query(sql, params).map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((id(r.get(0)), id(r.get(1)), hash32(r.get(2))?)))
            .collect())
    }

    /// Runs a query whose rows are `(id, id, id, chip hash, embedding)`,
    /// keeping the rows whose hash and embedding are well formed.
    fn chip_hash_rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<ChipRow>, StoreError> {
        let rows = self.lock().query(sql, params).map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    id(r.get(0)),
                    id(r.get(1)),
                    id(r.get(2)),
                    hash32(r.get(3))?,
                    bytes_embedding(r.get(4))?,
                ))
            })
            .collect())
    }
}

impl MatchStore for PgStore {
    fn case_gallery(&self, case: CaseId) -> Result<Vec<GalleryRow>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT f.id, p.id, f.embedding, p.age_months, p.taken_date, p.source, f.bbox
                 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.case_id = $1
                 ORDER BY f.id",
                &[&sql_id(case, "case")?],
            )
            .map_err(self.db())?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let bbox: Vec<f32> = r.get(6);
            let (Some(embedding), &[l, t, rt, b]) = (bytes_embedding(r.get(2)), &bbox[..]) else {
                continue;
            };
            let meta = PhotoMeta {
                age_months: age_months(r.get(3))?,
                taken_date: r.get(4),
                source: r.get(5),
            };
            out.push(GalleryRow {
                face_id: id(r.get(0)),
                photo_id: id(r.get(1)),
                bbox: [l, t, rt, b],
                embedding,
                enrolled_from: enrolled_from(meta.source.as_deref()),
                meta,
            });
        }
        Ok(out)
    }

    fn photo(&self, photo: PhotoId) -> Result<(CaseId, [u8; 32]), StoreError> {
        let row = self
            .lock()
            .query_opt(
                "SELECT case_id, sha256 FROM photos WHERE id = $1",
                &[&sql_id(photo, "photo")?],
            )
            .map_err(self.db())?
            .ok_or(StoreError::NotFound {
                what: "photo",
                id: photo,
            })?;
        let sha = hash32(row.get(1)).ok_or(StoreError::Corrupt {
            what: "photo",
            why: format!("photo {photo}'s hash is not 32 bytes"),
        })?;
        Ok((id(row.get(0)), sha))
    }

    fn sighting(&self, id: SightingId) -> Result<StoredSighting, StoreError> {
        let not_found = StoreError::NotFound {
            what: "sighting",
            id,
        };
        let row = self
            .lock()
            .query_opt(
                "SELECT sha256, seen_at, place, lat, lon, age_min, age_max, sex, submitter,
                        duplicate_group, repost_of_photo, added_at FROM sightings WHERE id = $1",
                &[&sql_id(id, "sighting")?],
            )
            .map_err(self.db())?
            .ok_or(not_found)?;
        Ok(StoredSighting {
            id,
            // The schema checks the length: 32 bytes.
            sha256: hash32(row.get(0)).ok_or(StoreError::Corrupt {
                what: "sighting",
                why: format!("sighting {id}'s photo hash is not 32 bytes"),
            })?,
            data: NewSighting {
                duplicate_group: row.get(9),
                ..sighting_facts(&row)?
            },
            repost_of_photo: row.get::<_, Option<i64>>(10).map(crate::id),
            added_at: row.get(11),
        })
    }

    fn sighting_count(&self) -> Result<u64, StoreError> {
        let row = self
            .lock()
            .query_one("SELECT count(*) FROM sightings", &[])
            .map_err(self.db())?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn sighting_faces(
        &self,
        sighting: SightingId,
    ) -> Result<Vec<(FaceId, FaceRecord)>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT id, bbox, landmarks, embedding, chip_hash, model FROM sighting_faces
                 WHERE sighting_id = $1 ORDER BY id",
                &[&sql_id(sighting, "sighting")?],
            )
            .map_err(self.db())?;
        let mut faces: Vec<(FaceId, FaceRecord)> = rows
            .iter()
            .filter_map(|r| Some((id(r.get(0)), face_record(r)?)))
            .collect();
        // Each face's vectors of the enabled models, in the order enabled.
        let ids: Vec<FaceId> = faces.iter().map(|(f, _)| *f).collect();
        for spec in self.models.specs() {
            let mut got = homeward_core::store::Store::vectors_of(
                self,
                FaceTable::Sighting,
                &spec.name,
                &ids,
            )?;
            for (f, record) in &mut faces {
                if let Some(e) = got.remove(f) {
                    record.vectors.push(ModelVector {
                        model: spec.name.clone(),
                        version: spec.version.clone(),
                        vector: e.to_vec(),
                    });
                }
            }
        }
        Ok(faces)
    }

    fn matchable_sighting_faces(&self) -> Result<Vec<(FaceId, SightingId, Embedding)>, StoreError> {
        let rows = self
            .lock()
            .query(
                "SELECT f.id, s.id, f.embedding
                 FROM sighting_faces f JOIN sightings s ON s.id = f.sighting_id
                 WHERE s.repost_of_photo IS NULL
                   AND (s.duplicate_group IS NULL OR s.duplicate_group = s.id)
                 ORDER BY f.id",
                &[],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((id(r.get(0)), id(r.get(1)), bytes_embedding(r.get(2))?)))
            .collect())
    }

    fn photo_hashes(&self) -> Result<Vec<(PhotoId, CaseId, [u8; 32])>, StoreError> {
        self.hash_rows(
            "SELECT h.photo_id, p.case_id, h.pdq
             FROM image_hashes h JOIN photos p ON p.id = h.photo_id ORDER BY h.id",
            &[],
        )
    }

    fn sighting_hashes(&self) -> Result<Vec<(SightingId, SightingId, [u8; 32])>, StoreError> {
        self.hash_rows(
            "SELECT s.id, coalesce(s.duplicate_group, s.id), h.pdq
             FROM image_hashes h JOIN sightings s ON s.id = h.sighting_id ORDER BY h.id",
            &[],
        )
    }

    fn case_chip_hashes(&self) -> Result<Vec<ChipRow>, StoreError> {
        // ILIKE: SQLite's LIKE ignores the case of ASCII letters, and this
        // pattern has only those.
        self.chip_hash_rows(
            "SELECT f.id, p.id, p.case_id, f.chip_hash, f.embedding
             FROM faces f JOIN photos p ON p.id = f.photo_id
             WHERE f.chip_hash IS NOT NULL
               AND (p.source IS NULL OR p.source NOT ILIKE 'sighting:%')
             ORDER BY f.id",
            &[],
        )
    }

    fn sighting_chip_hashes(&self) -> Result<Vec<ChipRow>, StoreError> {
        self.chip_hash_rows(
            "SELECT f.id, s.id, coalesce(s.duplicate_group, s.id), f.chip_hash, f.embedding
             FROM sighting_faces f JOIN sightings s ON s.id = f.sighting_id
             WHERE f.chip_hash IS NOT NULL ORDER BY f.id",
            &[],
        )
    }

    fn hashes_of_sightings(&self, ids: &[SightingId]) -> Result<SightingHashes, StoreError> {
        if ids.is_empty() {
            return Ok(SightingHashes::default());
        }
        // Ids beyond bigint name no row.
        let ids: Vec<i64> = ids.iter().filter_map(|&i| i64::try_from(i).ok()).collect();
        Ok(SightingHashes {
            pdq: self.hash_rows(
                "SELECT s.id, coalesce(s.duplicate_group, s.id), h.pdq
                 FROM image_hashes h JOIN sightings s ON s.id = h.sighting_id
                 WHERE s.id = ANY($1) ORDER BY h.id",
                &[&ids],
            )?,
            chips: self.chip_hash_rows(
                "SELECT f.id, s.id, coalesce(s.duplicate_group, s.id), f.chip_hash, f.embedding
                 FROM sighting_faces f JOIN sightings s ON s.id = f.sighting_id
                 WHERE f.chip_hash IS NOT NULL AND s.id = ANY($1) ORDER BY f.id",
                &[&ids],
            )?,
        })
    }

    fn set_photo_hash(
        &mut self,
        actor: &str,
        photo: PhotoId,
        pdq: [u8; 32],
        quality: u8,
    ) -> Result<(), StoreError> {
        let key = sql_id(photo, "photo")?;
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO image_hashes (photo_id, pdq, quality) VALUES ($1, $2, $3)",
            &[&key, &pdq.as_slice(), &i32::from(quality)],
        )
        .map_err(db)?;
        audit(&mut tx, actor, "hash_photo", &format!("photo:{photo}")).map_err(db)?;
        // The photo's own transaction came first: other processes learn of
        // its hash from this entry.
        let case: i64 = tx
            .query_one("SELECT case_id FROM photos WHERE id = $1", &[&key])
            .map_err(db)?
            .get(0);
        changelog::record(&mut tx, &[Change::photo_hashed(id(case))]).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn add_candidate(
        &mut self,
        actor: &str,
        sighting: SightingId,
        m: &NewMatch,
    ) -> Result<Option<MatchId>, StoreError> {
        let missing = || StoreError::Invalid {
            field: "match",
            why: format!(
                "sighting {sighting}, its face {} or case {} does not exist",
                m.sighting_face, m.case_id
            ),
        };
        let key = |v: u64| i64::try_from(v).map_err(|_| missing());
        let (sid, face, case) = (key(sighting)?, key(m.sighting_face)?, key(m.case_id)?);
        let (client, target) = self.parts();
        let db = |e| error::store_error(e, target);
        let mut tx = client.transaction().map_err(db)?;
        // Another process adding a candidate for this sighting waits here
        // until this one commits, then sees its match below: one match per
        // sighting and case, as with SQLite's single writer. (Inserting a
        // match only takes KEY SHARE on the sighting, which does not wait.)
        tx.execute(
            "SELECT 1 FROM sightings WHERE id = $1 FOR NO KEY UPDATE",
            &[&sid],
        )
        .map_err(db)?;
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM matches WHERE sighting_id = $1 AND case_id = $2)",
                &[&sid, &case],
            )
            .map_err(db)?
            .get(0);
        if exists {
            return Ok(None);
        }
        let mid = insert_match(&mut tx, actor, sid, face, case, m).map_err(|e| {
            if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                missing()
            } else {
                db(e)
            }
        })?;
        tx.commit().map_err(db)?;
        Ok(Some(mid))
    }

    fn matches_of_sighting(&self, sighting: SightingId) -> Result<Vec<MatchRow>, StoreError> {
        // NULLS FIRST: SQLite's ascending order puts NULL first.
        let rows = self
            .lock()
            .query(
                &format!(
                    "SELECT {MATCH_COLS} FROM matches WHERE sighting_id = $1
                     ORDER BY rank_key NULLS FIRST, id"
                ),
                &[&sql_id(sighting, "sighting")?],
            )
            .map_err(self.db())?;
        rows.iter().map(crate::rows::match_row).collect()
    }

    fn batch_items(&self, batch: &str) -> Result<Vec<BatchItem>, StoreError> {
        // COLLATE "C": byte order, as SQLite's, whatever the database's locale.
        let rows = self
            .lock()
            .query(
                "SELECT item, sighting_id, error FROM batch_items WHERE batch = $1
                 ORDER BY item COLLATE \"C\"",
                &[&batch],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| BatchItem {
                item: r.get(0),
                sighting_id: r.get::<_, Option<i64>>(1).map(id),
                error: r.get(2),
            })
            .collect())
    }

    fn batch_item_sighting(
        &self,
        batch: &str,
        item: &str,
    ) -> Result<Option<SightingId>, StoreError> {
        let row = self
            .lock()
            .query_opt(
                "SELECT sighting_id FROM batch_items WHERE batch = $1 AND item = $2",
                &[&batch, &item],
            )
            .map_err(self.db())?;
        Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).map(id))
    }

    fn index(&self) -> &FaceIndex {
        PgStore::index(self)
    }

    fn photo_path(&self, sha256: &[u8; 32]) -> PathBuf {
        PgStore::photo_path(self, sha256)
    }

    /// A store opened with [`PgStore::connect_shared`] applies what other
    /// processes committed ([`PgStore::catch_up`]); one opened alone has no
    /// other writer, and returns at once.
    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        if !self.is_shared() {
            return Ok(Refreshed::default());
        }
        let c = self
            .catch_up()
            .map_err(|e| e.into_store_error(&self.target))?;
        Ok(Refreshed {
            // Faces this process had not applied: another process's case
            // photos (its own are in the index already).
            case_photos: c.rebuilt
                || c.faces_added > 0
                || c.faces_removed > 0
                || c.photos_hashed > 0,
            sightings: c.sightings,
        })
    }

    fn location(&self) -> String {
        self.target.to_string()
    }

    fn close(self: Box<Self>) -> Result<(), StoreError> {
        // Nothing is kept on disk: the indexes are rebuilt at open, and the
        // server releases the writer lock when the connection closes.
        drop(self);
        Ok(())
    }
}
