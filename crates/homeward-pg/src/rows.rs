//! Column encodings and row decoders shared by the store's reads and
//! writes (a leaf: it imports nothing else of this crate but the error
//! module).

use std::time::{SystemTime, UNIX_EPOCH};

use homeward_core::index::{Embedding, DIM};
use homeward_core::store::{
    BatchStatus, Case, CaseId, CaseSummary, FaceRecord, MatchOrigin, MatchRow, NewCase, NewMatch,
    NewSighting, SightingSummary, StoreError,
};
use postgres::{GenericClient, Row};

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn year_of(date: &str) -> Option<i32> {
    date.get(..4)?.parse().ok()
}

pub(crate) fn id(v: i64) -> u64 {
    v as u64
}

pub(crate) fn sql_id(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::NotFound { what, id: v })
}

pub(crate) fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

pub(crate) fn embedding_bytes(e: &Embedding) -> Vec<u8> {
    e.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn bytes_embedding(b: &[u8]) -> Option<Embedding> {
    if b.len() != DIM * 4 {
        return None;
    }
    let mut e = [0f32; DIM];
    for (o, c) in e.iter_mut().zip(b.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(e)
}

pub(crate) fn hash32(b: &[u8]) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(b).ok()
}

/// A rule word read back through its rule: an unknown word is an error.
pub(crate) fn word<T: std::str::FromStr>(v: &str, field: &'static str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e: T::Err| StoreError::Invalid {
        field,
        why: format!("stored value: {e}"),
    })
}

pub(crate) fn opt_word<T: std::str::FromStr>(
    v: Option<String>,
    field: &'static str,
) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    v.map(|s| word(&s, field)).transpose()
}

pub(crate) fn age_months(v: Option<i32>) -> Result<Option<u32>, StoreError> {
    v.map(|m| {
        u32::try_from(m).map_err(|_| StoreError::Invalid {
            field: "photos.age_months",
            why: format!("stored value {m} is negative"),
        })
    })
    .transpose()
}

pub(crate) fn age_months_in(v: Option<u32>) -> Result<Option<i32>, StoreError> {
    v.map(|m| {
        i32::try_from(m).map_err(|_| StoreError::Invalid {
            field: "age_months",
            why: format!("{m} months is not a child's age"),
        })
    })
    .transpose()
}

pub(crate) fn no_bytes(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.is_empty() {
        return Err(StoreError::Invalid {
            field: "photo",
            why: "no bytes".into(),
        });
    }
    Ok(())
}

pub(crate) fn audit(
    c: &mut impl GenericClient,
    actor: &str,
    action: &str,
    target: &str,
) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO audit_log (at, actor, action, target) VALUES ($1, $2, $3, $4)",
        &[&now(), &actor, &action, &target],
    )
    .map(|_| ())
}

pub(crate) fn insert_faces(
    c: &mut impl GenericClient,
    table: &str,
    owner_col: &str,
    owner: i64,
    faces: &[FaceRecord],
) -> Result<Vec<u64>, postgres::Error> {
    let st = c.prepare(&format!(
        "INSERT INTO {table} ({owner_col}, bbox, landmarks, embedding, chip_hash, model)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
    ))?;
    let mut ids = Vec::with_capacity(faces.len());
    for f in faces {
        let bbox: Vec<f32> = f.bbox.to_vec();
        let lm: Vec<f32> = f.landmarks.iter().flatten().copied().collect();
        let chip = f.chip_hash.map(|h| h.to_vec());
        let row = c.query_one(
            &st,
            &[
                &owner,
                &bbox,
                &lm,
                &embedding_bytes(&f.embedding),
                &chip,
                &f.model,
            ],
        )?;
        ids.push(id(row.get(0)));
    }
    Ok(ids)
}

/// The face of a row whose columns 1..=5 are `bbox, landmarks, embedding,
/// chip_hash, model` (column 0 is its id), without its model vectors; `None`
/// when a column is malformed.
pub(crate) fn face_record(r: &Row) -> Option<FaceRecord> {
    let bbox: Vec<f32> = r.get(1);
    let lm: Vec<f32> = r.get(2);
    let embedding = bytes_embedding(r.get(3))?;
    let chip: Option<&[u8]> = r.get(4);
    let (&[l, t, rt, b], true) = (&bbox[..], lm.len() == 10) else {
        return None;
    };
    let mut landmarks = [[0f32; 2]; 5];
    for (i, p) in landmarks.iter_mut().enumerate() {
        *p = [lm[2 * i], lm[2 * i + 1]];
    }
    Some(FaceRecord {
        bbox: [l, t, rt, b],
        landmarks,
        embedding,
        chip_hash: chip.and_then(hash32),
        model: r.get(5),
        vectors: Vec::new(),
    })
}

/// Inserts a pending match of sighting face `face` with case `case` and its
/// audit line; returns its id.
pub(crate) fn insert_match(
    c: &mut impl GenericClient,
    actor: &str,
    sighting: i64,
    face: i64,
    case: i64,
    m: &NewMatch,
) -> Result<u64, postgres::Error> {
    let row = c.query_one(
        "INSERT INTO matches (sighting_id, case_id, scores, state, created_at,
                              sighting_face_id, origin, rank_key)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7) RETURNING id",
        &[
            &sighting,
            &case,
            &m.scores_json,
            &now(),
            &face,
            &origin_word(m.origin),
            &m.rank_key,
        ],
    )?;
    let mid = id(row.get(0));
    audit(c, actor, "add_match", &format!("match:{mid}"))?;
    Ok(mid)
}

pub(crate) const CASE_COLS: &str =
    "child_name, sex, birth_date, birth_year, missing_date, missing_place, \
                         missing_lat, missing_lon, status, contact_ref, notes";

pub(crate) fn case_row(id: CaseId, r: &Row) -> Result<Case, StoreError> {
    let lat: Option<f64> = r.get(6);
    let lon: Option<f64> = r.get(7);
    Ok(Case {
        id,
        data: NewCase {
            child_name: r.get(0),
            sex: word(r.get(1), "cases.sex")?,
            birth_date: r.get(2),
            birth_year: r.get(3),
            missing_date: r.get(4),
            missing_place: r.get(5),
            missing_location: lat.zip(lon),
            status: word(r.get(8), "cases.status")?,
            contact_ref: r.get(9),
            notes: r.get(10),
        },
    })
}

pub(crate) const CASE_SUMMARY: &str =
    "SELECT c.id, c.child_name, c.sex, c.birth_year, c.missing_date, c.missing_place, c.status,
        (SELECT count(*) FROM photos p WHERE p.case_id = c.id),
        (SELECT count(*) FROM matches m WHERE m.case_id = c.id AND m.state = 'pending'),
        c.created_at
     FROM cases c";

pub(crate) fn case_summary(r: &Row) -> Result<CaseSummary, StoreError> {
    Ok(CaseSummary {
        id: id(r.get(0)),
        child_name: r.get(1),
        sex: word(r.get(2), "cases.sex")?,
        birth_year: r.get(3),
        missing_date: r.get(4),
        missing_place: r.get(5),
        status: word(r.get(6), "cases.status")?,
        photos: count(r.get(7)),
        pending_matches: count(r.get(8)),
        created_at: r.get(9),
    })
}

pub(crate) const SIGHTING_SUMMARY: &str =
    "SELECT s.id, s.seen_at, s.place, s.lat, s.lon, s.age_min, s.age_max, s.sex, s.submitter,
        s.added_at, (SELECT count(*) FROM sighting_faces f WHERE f.sighting_id = s.id), s.note
     FROM sightings s";

/// A sighting's facts as reported, from a row whose columns 1..=8 are
/// `seen_at, place, lat, lon, age_min, age_max, sex, submitter` (no
/// duplicate group).
pub(crate) fn sighting_facts(r: &Row) -> Result<NewSighting, StoreError> {
    let lat: Option<f64> = r.get(3);
    let lon: Option<f64> = r.get(4);
    let amin: Option<f64> = r.get(5);
    let amax: Option<f64> = r.get(6);
    Ok(NewSighting {
        seen_at: r.get(1),
        place: r.get(2),
        location: lat.zip(lon),
        apparent_age: amin.zip(amax).map(|(a, b)| (a as f32, b as f32)),
        sex: opt_word(r.get(7), "sightings.sex")?,
        submitter: r.get(8),
        duplicate_group: None,
    })
}

pub(crate) fn sighting_summary(r: &Row) -> Result<SightingSummary, StoreError> {
    let facts = sighting_facts(r)?;
    Ok(SightingSummary {
        id: id(r.get(0)),
        seen_at: facts.seen_at,
        place: facts.place,
        location: facts.location,
        apparent_age: facts.apparent_age,
        sex: facts.sex,
        submitter: facts.submitter,
        added_at: r.get(9),
        faces: count(r.get(10)),
        note: r.get(11),
    })
}

pub(crate) const BATCH_STATUS: &str =
    "SELECT b.batch, count(*), count(b.sighting_id), count(b.error),
        (SELECT count(*) FROM matches m JOIN batch_items i ON i.sighting_id = m.sighting_id
          WHERE i.batch = b.batch AND m.state = 'pending'),
        max(b.done_at)
     FROM batch_items b";

pub(crate) fn batch_status(r: &Row) -> BatchStatus {
    BatchStatus {
        name: r.get(0),
        items: r.get::<_, i64>(1) as u64,
        recorded: r.get::<_, i64>(2) as u64,
        failed: r.get::<_, i64>(3) as u64,
        pending_matches: r.get::<_, i64>(4) as u64,
        last_done_at: r.get(5),
    }
}

pub(crate) const MATCH_COLS: &str =
    "id, sighting_id, case_id, sighting_face_id, state, origin, rank_key, \
                          scores, reviewer, note, created_at, decided_at, assignee";

pub(crate) fn match_row(r: &Row) -> Result<MatchRow, StoreError> {
    Ok(MatchRow {
        id: id(r.get(0)),
        sighting_id: id(r.get(1)),
        case_id: id(r.get(2)),
        sighting_face_id: r.get::<_, Option<i64>>(3).map(id),
        state: word(r.get(4), "matches.state")?,
        origin: r.get(5),
        rank_key: r.get(6),
        scores_json: r.get(7),
        reviewer: r.get(8),
        note: r.get(9),
        created_at: r.get(10),
        decided_at: r.get(11),
        assignee: r.get(12),
    })
}

pub(crate) fn origin_word(o: MatchOrigin) -> &'static str {
    match o {
        MatchOrigin::Sighting => "sighting",
        MatchOrigin::Case => "case",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeward_core::rules::{CaseStatus, Sex};

    #[test]
    fn embeddings_round_trip_and_wrong_lengths_are_refused() {
        let mut e = [0f32; DIM];
        e[7] = -2.5;
        e[127] = f32::MIN_POSITIVE;
        assert_eq!(bytes_embedding(&embedding_bytes(&e)), Some(e));
        assert_eq!(bytes_embedding(&[0; 511]), None);
    }

    #[test]
    fn stored_words_are_read_through_the_rules() {
        assert_eq!(word::<Sex>("female", "f").unwrap(), Sex::Female);
        assert!(matches!(
            word::<CaseStatus>("lost", "cases.status"),
            Err(StoreError::Invalid {
                field: "cases.status",
                ..
            })
        ));
        assert!(age_months(Some(-1)).is_err());
        assert!(age_months_in(Some(u32::MAX)).is_err());
    }
}
