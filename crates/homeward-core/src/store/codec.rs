//! How values are laid out in the database: embeddings and boxes as
//! little-endian `f32` blobs, hashes as 32-byte blobs, and the input-rule
//! types as their canonical words. A leaf of `store/`: every other store
//! module may use it, and it uses none of them.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::types::FaceRecord;
use super::StoreError;
use crate::index::{Embedding, DIM};
use crate::rules::{CaseStatus, MatchState, Sex};

/// Current time, seconds since the Unix epoch.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `f32` values as a little-endian blob.
pub(super) fn f32s_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A little-endian blob as `f32` values (a trailing partial value is dropped).
pub(super) fn blob_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A model's vector blob, if it holds exactly `dim` numbers.
pub(super) fn blob_to_vector(b: &[u8], dim: usize) -> Option<Vec<f32>> {
    (b.len() == dim.checked_mul(4)?).then(|| blob_to_f32s(b))
}

/// An embedding blob, if it has the right length.
pub(super) fn blob_to_embedding(b: &[u8]) -> Option<Embedding> {
    if b.len() != DIM * 4 {
        return None;
    }
    let mut e = [0f32; DIM];
    for (o, c) in e.iter_mut().zip(b.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(e)
}

/// A 32-byte hash blob, if it has the right length.
pub(super) fn hash32(v: Vec<u8>) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(v.as_slice()).ok()
}

/// Refuses faces a store cannot hold faithfully (non-finite embedding
/// values, no model id); every [`super::Store`] implementation calls it.
pub fn check_faces(faces: &[FaceRecord]) -> Result<(), StoreError> {
    for (i, f) in faces.iter().enumerate() {
        if f.embedding.iter().any(|x| !x.is_finite()) {
            return Err(StoreError::Invalid {
                field: "embedding",
                why: format!("face {i} has a non-finite value"),
            });
        }
        if f.model.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "model",
                why: format!("face {i} names no model; give the model id and version"),
            });
        }
    }
    Ok(())
}

/// Stores a rule type as its canonical word and reads it back through the
/// rule, so a word the rule refuses is an error, never a silent default.
macro_rules! sql_word {
    ($t:ty) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

sql_word!(Sex);
sql_word!(CaseStatus);
sql_word!(MatchState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_round_trip_and_wrong_lengths_are_none() {
        let mut e = [0f32; DIM];
        e[3] = -1.5;
        assert_eq!(blob_to_embedding(&f32s_to_blob(&e)), Some(e));
        assert_eq!(blob_to_embedding(&[0; 12]), None);
        assert_eq!(blob_to_f32s(&f32s_to_blob(&[1.0, 2.0])), vec![1.0, 2.0]);
    }

    #[test]
    fn rule_words_are_read_strictly() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let s: Sex = c.query_row("SELECT 'female'", [], |r| r.get(0)).unwrap();
        assert_eq!(s, Sex::Female);
        assert!(c
            .query_row("SELECT 'alien'", [], |r| r.get::<_, Sex>(0))
            .is_err());
        let m: MatchState = c
            .query_row("SELECT ?1", [MatchState::Rejected], |r| r.get(0))
            .unwrap();
        assert_eq!(m, MatchState::Rejected);
    }
}
