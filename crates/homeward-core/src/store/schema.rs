//! Database schema and its versioned migrations (`PRAGMA user_version`).

use rusqlite::Connection;

/// `PRAGMA application_id` of a Homeward registry ("HWRG").
pub const APPLICATION_ID: i32 = 0x4857_5247;

/// Schema version written by this build.
pub const SCHEMA_VERSION: i64 = 7;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE cases (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    child_name       TEXT NOT NULL,
    sex              TEXT NOT NULL CHECK (sex IN ('female','male','unknown')),
    birth_date       TEXT,
    birth_year       INTEGER,
    missing_date     TEXT,
    missing_place    TEXT NOT NULL,
    missing_lat      REAL,
    missing_lon      REAL,
    status           TEXT NOT NULL CHECK (status IN ('searching','found','closed')),
    contact_ref      TEXT,
    notes            TEXT,
    created_at       INTEGER NOT NULL
);
CREATE TABLE photos (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    sha256      BLOB NOT NULL CHECK (length(sha256) = 32),
    byte_len    INTEGER NOT NULL,
    age_months  INTEGER,
    taken_date  TEXT,
    source      TEXT,
    added_at    INTEGER NOT NULL
);
CREATE INDEX photos_case ON photos(case_id);
CREATE INDEX photos_sha ON photos(sha256);
CREATE TABLE faces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id    INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    bbox        BLOB NOT NULL CHECK (length(bbox) = 16),
    landmarks   BLOB NOT NULL CHECK (length(landmarks) = 40),
    embedding   BLOB NOT NULL CHECK (length(embedding) = 512),
    chip_hash   BLOB CHECK (chip_hash IS NULL OR length(chip_hash) = 32),
    model       TEXT NOT NULL
);
CREATE INDEX faces_photo ON faces(photo_id);
CREATE TABLE sightings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256          BLOB NOT NULL CHECK (length(sha256) = 32),
    byte_len        INTEGER NOT NULL,
    seen_at         TEXT,
    place           TEXT,
    lat             REAL,
    lon             REAL,
    age_min         REAL,
    age_max         REAL,
    sex             TEXT CHECK (sex IS NULL OR sex IN ('female','male','unknown')),
    submitter       TEXT,
    duplicate_group INTEGER,
    added_at        INTEGER NOT NULL
);
CREATE INDEX sightings_sha ON sightings(sha256);
CREATE TABLE sighting_faces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sighting_id INTEGER NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
    bbox        BLOB NOT NULL CHECK (length(bbox) = 16),
    landmarks   BLOB NOT NULL CHECK (length(landmarks) = 40),
    embedding   BLOB NOT NULL CHECK (length(embedding) = 512),
    chip_hash   BLOB CHECK (chip_hash IS NULL OR length(chip_hash) = 32),
    model       TEXT NOT NULL
);
CREATE INDEX sighting_faces_sighting ON sighting_faces(sighting_id);
CREATE TABLE matches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sighting_id INTEGER NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
    case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    scores      TEXT NOT NULL CHECK (json_valid(scores)),
    state       TEXT NOT NULL CHECK (state IN ('pending','confirmed','rejected')),
    reviewer    TEXT,
    decided_at  INTEGER,
    note        TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX matches_case ON matches(case_id);
CREATE INDEX matches_sighting ON matches(sighting_id);
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE registry_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO registry_meta (key, value) VALUES ('erase_generation', 0);
"#,
    // 2: two-way matching. Whole-photo PDQ hashes of case photos and sightings
    // (duplicates and poster reposts), the repost flag on sightings, the face and
    // ordering key of a match, and batch progress.
    r#"
CREATE TABLE image_hashes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id    INTEGER REFERENCES photos(id) ON DELETE CASCADE,
    sighting_id INTEGER REFERENCES sightings(id) ON DELETE CASCADE,
    pdq         BLOB NOT NULL CHECK (length(pdq) = 32),
    quality     INTEGER NOT NULL,
    CHECK ((photo_id IS NULL) <> (sighting_id IS NULL))
);
CREATE INDEX image_hashes_photo ON image_hashes(photo_id);
CREATE INDEX image_hashes_sighting ON image_hashes(sighting_id);
ALTER TABLE sightings ADD COLUMN repost_of_photo INTEGER REFERENCES photos(id) ON DELETE SET NULL;
ALTER TABLE matches ADD COLUMN sighting_face_id INTEGER REFERENCES sighting_faces(id) ON DELETE SET NULL;
ALTER TABLE matches ADD COLUMN origin TEXT;
ALTER TABLE matches ADD COLUMN rank_key REAL;
CREATE INDEX matches_state ON matches(state, rank_key);
CREATE TABLE batch_items (
    batch       TEXT NOT NULL,
    item        TEXT NOT NULL,
    sighting_id INTEGER REFERENCES sightings(id) ON DELETE SET NULL,
    error       TEXT,
    done_at     INTEGER NOT NULL,
    PRIMARY KEY (batch, item)
);
"#,
    // Version 3: face-chip hashes changed design (hash::CHIP_HASH_VERSION 2:
    // a wider region centred on the template's axis, lower frequencies), and
    // old and new hashes are not comparable. The old ones are dropped rather
    // than compared wrongly; they are derived data (the photos are kept), and
    // PDQ hashes and embeddings are unchanged.
    r#"
UPDATE faces SET chip_hash = NULL;
UPDATE sighting_faces SET chip_hash = NULL;
"#,
    // Version 4: the submitter's note lives with the sighting (it was kept in
    // the web server's auth.sqlite); existing rows get NULL, and the server
    // moves old notes over at start (`Registry::adopt_sighting_notes`).
    r#"
ALTER TABLE sightings ADD COLUMN note TEXT;
"#,
    // Version 5: a model slot. dlib's embedding stays in `faces.embedding`
    // (its landmarks align every model); other embedding models are enabled
    // per registry, with their name, version, dimension and metric, and each
    // face's vector from each enabled model is a row of its own. An existing
    // registry starts with none; adding one re-embeds the stored photos
    // (`docs/adr-model-slot.md`).
    r#"
CREATE TABLE models (
    name     TEXT PRIMARY KEY,
    version  TEXT NOT NULL,
    dim      INTEGER NOT NULL CHECK (dim > 0),
    metric   TEXT NOT NULL CHECK (metric IN ('euclidean','cosine')),
    added_at INTEGER NOT NULL
);
CREATE TABLE face_vectors (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    model   TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    vector  BLOB NOT NULL,
    PRIMARY KEY (face_id, model)
) WITHOUT ROWID;
CREATE TABLE sighting_face_vectors (
    sighting_face_id INTEGER NOT NULL REFERENCES sighting_faces(id) ON DELETE CASCADE,
    model            TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    vector           BLOB NOT NULL,
    PRIMARY KEY (sighting_face_id, model)
) WITHOUT ROWID;
INSERT INTO registry_meta (key, value) VALUES ('models_chosen', 0);
"#,
    // Version 6: a case's journal and shared review. Each status change
    // keeps who, when and why, and case workers keep notes on a case
    // (`case_events`, erased with the case); a match can be assigned to a
    // case worker; and each reviewer's "seen up to" mark gives "new since
    // you last looked" (`docs/adr-case-life.md`).
    r#"
CREATE TABLE case_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id  INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('status','note')),
    status   TEXT CHECK (status IS NULL OR status IN ('searching','found','closed')),
    body     TEXT,
    CHECK ((kind = 'status') = (status IS NOT NULL)),
    CHECK (kind = 'status' OR body IS NOT NULL)
);
CREATE INDEX case_events_case ON case_events(case_id, id);
ALTER TABLE matches ADD COLUMN assignee TEXT;
CREATE TABLE review_marks (
    reviewer   TEXT PRIMARY KEY,
    seen_upto  INTEGER NOT NULL,
    at         INTEGER NOT NULL
);
"#,
    // Version 7: the registry is the notifications' outbox (`store/outbox.rs`,
    // docs/adr-notify.md). A notification is owed for every pending match of a
    // notified band above `notify_floor`; this table keeps, per match and
    // channel, what became of it: the claim's lease (`claimed_until`), the
    // attempts, when to try next, and when it was delivered or given up.
    // Matches that existed before this version were handled (or not) by the
    // old in-memory notifier: the floor keeps them from being sent again.
    // Rows go with their match by ON DELETE CASCADE, so an erasure takes them.
    r#"
CREATE TABLE notify_deliveries (
    match_id      INTEGER NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    channel       TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    delivered_at  INTEGER,
    gave_up_at    INTEGER,
    PRIMARY KEY (match_id, channel)
);
INSERT INTO registry_meta (key, value) VALUES ('notify_floor', (SELECT coalesce(max(id), 0) FROM matches));
"#,
];

/// What `migrate` found.
pub(crate) enum Found {
    /// Schema is at `SCHEMA_VERSION` (possibly after migrating).
    Current,
    /// Written by a newer build.
    TooNew(i64),
    /// Another application's database.
    Foreign(String),
}

/// Brings the database to `SCHEMA_VERSION`, refusing foreign or newer files.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Found> {
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if app != APPLICATION_ID {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if app != 0 || version != 0 || tables != 0 {
            return Ok(Found::Foreign(format!(
                "application_id {app:#x}, user_version {version}, {tables} schema objects"
            )));
        }
    }
    if version > SCHEMA_VERSION {
        return Ok(Found::TooNew(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(Found::Current)
}
