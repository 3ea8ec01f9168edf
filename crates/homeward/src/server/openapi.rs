//! The OpenAPI 3 document of the JSON API, written by hand beside the
//! routes; a test checks that both list the same operations. `x-roles`
//! states the least role each operation needs (roles include those below).

use serde_json::{json, Value};

fn err() -> Value {
    json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": schema } } })
}

fn op(summary: &str, roles: &[&str], mut extra: Value, responses: Value) -> Value {
    let mut o = json!({
        "summary": summary,
        "x-roles": roles,
        "responses": responses,
    });
    if roles.is_empty() {
        o["security"] = json!([]);
    }
    if let (Some(o), Some(e)) = (o.as_object_mut(), extra.as_object_mut()) {
        o.append(e);
    }
    let r = &mut o["responses"];
    for code in [
        "400", "401", "403", "404", "413", "415", "422", "429", "500", "503",
    ] {
        if r.get(code).is_none() {
            r[code] = err();
        }
    }
    o
}

fn id_param(name: &str) -> Value {
    json!([{ "name": name, "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }])
}

fn multipart(fields: Value, required: &[&str]) -> Value {
    json!({ "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": {
        "type": "object", "properties": fields, "required": required } } } } })
}

fn json_body(schema: Value, required: bool) -> Value {
    json!({ "requestBody": { "required": required, "content": { "application/json": { "schema": schema } } } })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn arr(name: &str) -> Value {
    json!({ "type": "array", "items": r(name) })
}

const V: &[&str] = &["volunteer", "caseworker", "admin"];
const CW: &[&str] = &["caseworker", "admin"];
const AD: &[&str] = &["admin"];
const ANY: &[&str] = &[];

/// The document served at `/api/openapi.json`.
pub fn document() -> Value {
    let photo = json!({ "type": "string", "format": "binary", "description": "JPEG, PNG, WebP, BMP, TIFF or GIF; at most --max-bytes and --max-pixels" });
    let id = |n: &str| id_param(n);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Homeward API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sightings, cases, search and the review queue. Candidates are ranked for human review; nothing here declares a match. Authenticate with the session cookie from POST /api/session (send X-CSRF-Token on writes) or with `Authorization: Bearer <token>`. Every error is {\"error\":{\"status\",\"code\",\"message\"}}."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-hw_session" }
            },
            "schemas": {
                "Error": { "type": "object", "properties": { "error": { "type": "object", "properties": {
                    "status": { "type": "integer" }, "code": { "type": "string" }, "message": { "type": "string" } } } } },
                "Me": { "type": "object", "properties": { "id": { "type": "integer" }, "username": { "type": "string" },
                    "role": { "type": "string", "enum": ["volunteer", "caseworker", "admin"] }, "csrf_token": { "type": "string" } } },
                "Created": { "type": "object", "properties": { "id": { "type": "integer" } } },
                "Receipt": { "type": "object", "properties": { "receipt": { "type": "string" }, "received_at": { "type": "integer" },
                    "faces": { "type": "integer" }, "message": { "type": "string" }, "status": { "type": "string" }, "sighting_id": { "type": "integer" } } },
                "CaseIn": { "type": "object", "required": ["child_name"], "properties": {
                    "child_name": { "type": "string" }, "sex": { "type": "string", "enum": ["female", "male", "unknown"] },
                    "birth_date": { "type": "string", "format": "date" }, "birth_year": { "type": "integer" },
                    "missing_date": { "type": "string", "format": "date" }, "missing_place": { "type": "string" },
                    "missing_location": { "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2 },
                    "status": { "type": "string", "enum": ["searching", "found", "closed"] },
                    "contact_ref": { "type": "string" }, "notes": { "type": "string" } } },
                "CaseSummary": { "type": "object", "properties": { "id": { "type": "integer" }, "child_name": { "type": "string" },
                    "sex": { "type": "string" }, "birth_year": { "type": "integer" }, "missing_date": { "type": "string" },
                    "missing_place": { "type": "string" }, "status": { "type": "string" }, "photos": { "type": "integer" },
                    "pending_matches": { "type": "integer" } } },
                "Photo": { "type": "object", "properties": { "id": { "type": "integer" }, "age_months": { "type": "integer" },
                    "taken_date": { "type": "string" }, "source": { "type": "string" }, "faces": { "type": "integer" }, "url": { "type": "string" } } },
                "Case": { "allOf": [ r("CaseIn"), { "type": "object", "properties": { "id": { "type": "integer" }, "photos": arr("Photo") } } ] },
                "StatusChange": { "type": "object", "properties": { "case_id": { "type": "integer" },
                    "from": { "type": "string", "enum": ["searching", "found", "closed"] },
                    "to": { "type": "string", "enum": ["searching", "found", "closed"] } } },
                "PhotoAdded": { "type": "object", "properties": { "photo_id": { "type": "integer" },
                    "faces": { "type": "integer", "description": "faces enrolled: the largest face of the photo" },
                    "faces_found": { "type": "integer" }, "warning": { "type": "string" },
                    "surfaced_sightings": { "type": "integer", "description": "past sightings this photo put in the review queue" } } },
                "Sighting": { "type": "object", "properties": { "id": { "type": "integer" }, "seen_at": { "type": "string" },
                    "place": { "type": "string" }, "location": { "type": "array", "items": { "type": "number" } },
                    "apparent_age": { "type": "array", "items": { "type": "number" } }, "sex": { "type": "string" },
                    "submitter": { "type": "string" }, "note": { "type": "string" }, "faces": { "type": "integer" },
                    "added_at": { "type": "integer" }, "photo_url": { "type": "string" } } },
                "CandidatePhoto": { "type": "object", "properties": { "photo_id": { "type": "integer" }, "distance": { "type": "number" },
                    "age_months": { "type": "integer" }, "url": { "type": "string" } } },
                "Candidate": { "type": "object", "properties": { "case_id": { "type": "integer" }, "child_name": { "type": "string" },
                    "status": { "type": "string" }, "face": { "type": "integer" },
                    "distance": { "type": "number", "description": "distance of the deciding photo pair" },
                    "score": { "type": "number", "description": "fused over the case's photos, with priors; lower ranks first" },
                    "est_false_match_rate": { "type": "number", "description": "estimated chance that a different child's case scores this well" },
                    "band": { "type": "string", "enum": ["strong", "possible", "weak", "below"] }, "why": { "type": "string" },
                    "explanation": { "type": "object", "description": "the why, structured: photo pairs, age gap, priors" },
                    "photos": arr("CandidatePhoto") } },
                "QueueItem": { "type": "object", "properties": { "match_id": { "type": "integer" }, "sighting_id": { "type": "integer" },
                    "case_id": { "type": "integer" }, "child_name": { "type": "string" }, "distance": { "type": "number" },
                    "score": { "type": "number" }, "est_false_match_rate": { "type": "number" },
                    "band": { "type": "string" }, "why": { "type": "string" }, "state": { "type": "string", "enum": ["pending", "confirmed", "rejected"] },
                    "created_at": { "type": "integer" },
                    "assignee": { "type": "string", "nullable": true, "description": "the case worker's user name" },
                    "new": { "type": "boolean", "description": "queued after the caller last listed the queue (listing moves the caller's mark)" } } },
                "Timeline": { "type": "object", "description": "A case's whole life, oldest first (events in the same second: registration, photos, matches, decisions, journal)",
                    "properties": {
                    "case": { "type": "object", "properties": { "id": { "type": "integer" }, "child_name": { "type": "string" },
                        "sex": { "type": "string" }, "birth_year": { "type": "integer", "nullable": true },
                        "missing_date": { "type": "string", "nullable": true }, "missing_place": { "type": "string" },
                        "status": { "type": "string", "enum": ["searching", "found", "closed"] }, "photos": { "type": "integer" },
                        "pending_matches": { "type": "integer" }, "created_at": { "type": "string", "format": "date-time" } } },
                    "events": arr("TimelineEvent") } },
                "TimelineEvent": { "type": "object", "required": ["at", "event"],
                    "description": "One event; which fields are present depends on `event`: photo_added (photo_id, age_months, taken_date), sighting_matched (match_id, sighting_id, band, state, assignee, seen_at, place, location, map_links), match_decided (match_id, state, reviewer), status (status, actor, why), note (actor, text)",
                    "properties": {
                    "at": { "type": "string", "format": "date-time", "description": "when it was recorded, RFC 3339 UTC" },
                    "event": { "type": "string", "enum": ["registered", "photo_added", "sighting_matched", "match_decided", "status", "note"] },
                    "photo_id": { "type": "integer" }, "age_months": { "type": "integer", "nullable": true },
                    "taken_date": { "type": "string", "nullable": true },
                    "match_id": { "type": "integer" }, "sighting_id": { "type": "integer" },
                    "band": { "type": "string", "enum": ["strong", "possible", "weak", "below"], "nullable": true, "description": "null when the stored scores cannot be read" },
                    "state": { "type": "string", "enum": ["pending", "confirmed", "rejected"] },
                    "assignee": { "type": "string", "nullable": true }, "reviewer": { "type": "string", "nullable": true },
                    "seen_at": { "type": "string", "nullable": true, "description": "as the volunteer gave it" },
                    "place": { "type": "string", "nullable": true },
                    "location": { "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2, "nullable": true, "description": "[latitude, longitude], WGS 84" },
                    "map_links": { "type": "array", "items": { "type": "object", "properties": { "label": { "type": "string" }, "url": { "type": "string" } } } },
                    "status": { "type": "string", "enum": ["searching", "found", "closed"] },
                    "actor": { "type": "string" }, "why": { "type": "string", "nullable": true }, "text": { "type": "string" } } },
                "NoteAdded": { "type": "object", "properties": { "case_id": { "type": "integer" }, "note_id": { "type": "integer" } } },
                "Assigned": { "type": "object", "properties": { "match_id": { "type": "integer" },
                    "assignee": { "type": "string", "nullable": true } } },
                "Review": { "type": "object", "properties": { "match_id": { "type": "integer" }, "state": { "type": "string" },
                    "reviewer": { "type": "string" }, "assignee": { "type": "string", "nullable": true }, "note": { "type": "string" }, "decided_at": { "type": "integer" },
                    "distance": { "type": "number" }, "score": { "type": "number" }, "est_false_match_rate": { "type": "number" },
                    "band": { "type": "string" }, "why": { "type": "string" },
                    "sighting": r("Sighting"), "case": r("CaseSummary"), "candidate_photos": arr("CandidatePhoto"),
                    "explanation": { "type": "object", "description": "The ranking's evidence: sighting_face, best and nearest photo pairs, photos_compared, fusion, models, priors" },
                    "one_in": { "type": "integer", "description": "About one in how many different children's cases score this close" },
                    "sighting_face": r("FaceBox"), "case_face": r("FaceBox") } },
                "FaceBox": { "type": "object", "description": "A compared face's box in its photo (upright pixels); null when unknown",
                    "properties": { "photo_url": { "type": "string" }, "width": { "type": "integer" }, "height": { "type": "integer" },
                    "box": { "type": "array", "items": { "type": "number" }, "minItems": 4, "maxItems": 4, "description": "[left, top, right, bottom]" } } },
                "BatchStatus": { "type": "object", "properties": { "name": { "type": "string" }, "items": { "type": "integer" },
                    "recorded": { "type": "integer" }, "failed": { "type": "integer" }, "pending_matches": { "type": "integer" },
                    "last_done_at": { "type": "integer" } } },
                "Batch": { "allOf": [ r("BatchStatus"), { "type": "object", "properties": { "results": { "type": "array",
                    "items": { "type": "object", "description": "one item: kind (new, duplicate, poster_repost, no_face, failed) and its candidates" } },
                    "queued": { "type": "integer", "description": "items uploaded to this server and not yet processed" },
                    "state": { "type": "string", "enum": ["queued", "running", "done"] } } } ] },
                "Undone": { "type": "object", "properties": { "match_id": { "type": "integer" },
                    "state": { "type": "string", "enum": ["pending"] }, "was": { "type": "string", "enum": ["confirmed", "rejected"] } } },
                "Decision": { "type": "object", "properties": { "match_id": { "type": "integer" }, "state": { "type": "string" } } },
                "User": { "type": "object", "properties": { "id": { "type": "integer" }, "username": { "type": "string" },
                    "role": { "type": "string" }, "disabled": { "type": "boolean" } } },
                "Token": { "type": "object", "properties": { "id": { "type": "integer" }, "user_id": { "type": "integer" },
                    "username": { "type": "string" }, "name": { "type": "string" }, "created_at": { "type": "integer" }, "revoked": { "type": "boolean" } } },
                "TokenCreated": { "type": "object", "properties": { "id": { "type": "integer" }, "token": { "type": "string", "description": "shown once" } } },
                "AccessEntry": { "type": "object", "properties": { "id": { "type": "integer" }, "at": { "type": "integer" },
                    "actor": { "type": "string" }, "action": { "type": "string" }, "target": { "type": "string" } } }
            }
        },
        "security": [ { "bearer": [] }, { "session": [] } ],
        "paths": {
            "/api/openapi.json": { "get": op("This document", ANY, json!({}), json!({ "200": ok("OpenAPI 3 document", json!({ "type": "object" })) })) },
            "/api/health": { "get": op("Liveness", ANY, json!({}), json!({ "200": ok("Up", json!({ "type": "object" })) })) },
            "/api/session": {
                "post": op("Sign in; sets the session cookie and returns the CSRF token", ANY,
                    json_body(json!({ "type": "object", "required": ["username", "password"], "properties": {
                        "username": { "type": "string" }, "password": { "type": "string" } } }), true),
                    json!({ "200": ok("Signed in", r("Me")) })),
                "delete": op("Sign out", V, json!({}), json!({ "204": { "description": "Signed out" } }))
            },
            "/api/me": { "get": op("The caller", V, json!({}), json!({ "200": ok("The caller", r("Me")) })) },
            "/api/sightings": {
                "post": op("Submit a sighting; returns a receipt only", V,
                    multipart(json!({ "photo": photo, "lat": { "type": "number" }, "lon": { "type": "number" },
                        "place": { "type": "string" }, "seen_at": { "type": "string" },
                        "apparent_age": { "type": "string", "example": "8-11" },
                        "sex": { "type": "string", "enum": ["female", "male", "unknown"] }, "note": { "type": "string" } }), &["photo"]),
                    json!({ "201": ok("Receipt", r("Receipt")) })),
                "get": op("List sightings (newest 500)", CW, json!({}), json!({ "200": ok("Sightings", arr("Sighting")) }))
            },
            "/api/sightings/{id}": { "get": op("A sighting", CW, json!({ "parameters": id("id") }), json!({ "200": ok("Sighting", r("Sighting")) })) },
            "/api/sightings/{id}/photo": { "get": op("A sighting's photo", CW, json!({ "parameters": id("id") }),
                json!({ "200": { "description": "Image bytes", "content": { "image/*": { "schema": { "type": "string", "format": "binary" } } } } })) },
            "/api/receipts/{code}": { "get": op("A receipt (volunteers: their own only)", V,
                json!({ "parameters": [{ "name": "code", "in": "path", "required": true, "schema": { "type": "string" } }] }),
                json!({ "200": ok("Receipt", r("Receipt")) })) },
            "/api/cases": {
                "get": op("List cases", CW, json!({}), json!({ "200": ok("Cases", arr("CaseSummary")) })),
                "post": op("Create a case", CW, json_body(r("CaseIn"), true), json!({ "201": ok("Created", r("Created")) }))
            },
            "/api/cases/{id}": {
                "get": op("A case with its photos", CW, json!({ "parameters": id("id") }), json!({ "200": ok("Case", r("Case")) })),
                "delete": op("Erase a case and everything derived from it", AD, json!({ "parameters": id("id") }), json!({ "204": { "description": "Erased" } }))
            },
            "/api/cases/{id}/status": { "post": op("Change a case's status (found or closed ends the search; searching reopens it)", CW,
                { let mut b = json!({ "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["status"],
                    "properties": { "status": { "type": "string", "enum": ["searching", "found", "closed"] },
                        "why": { "type": "string", "maxLength": 4000, "description": "optional; kept in the case's journal (400 bad_field when empty or over 4,000 characters)" } } } } } } });
                  b["parameters"] = id("id"); b },
                json!({ "200": ok("The status before and after", r("StatusChange")) })) },
            "/api/cases/{id}/photos": { "post": op("Add a photo to a case", CW,
                { let mut m = multipart(json!({ "photo": photo, "age_months": { "type": "integer" }, "age_years": { "type": "number" },
                    "taken_date": { "type": "string", "format": "date" }, "source": { "type": "string" } }), &["photo"]);
                  m["parameters"] = id("id"); m },
                json!({ "201": ok("Added", r("PhotoAdded")) })) },
            "/api/cases/{id}/notes": { "post": op("Add a note to the case's journal (who and when are kept with it)", CW,
                { let mut b = json_body(json!({ "type": "object", "required": ["note"], "properties": {
                    "note": { "type": "string", "minLength": 1, "maxLength": 4000 } } }), true); b["parameters"] = id("id"); b },
                json!({ "201": ok("Added", r("NoteAdded")) })) },
            "/api/cases/{id}/timeline": { "get": op("The case's whole life as JSON, oldest first: registration, photos, matched sightings (with map links), decisions, status changes with why, notes", CW,
                json!({ "parameters": id("id") }),
                json!({ "200": ok("Timeline", r("Timeline")) })) },
            "/api/cases/{id}/export.csv": { "get": op("The case's timeline as CSV (UTF-8 with BOM, UTC times, formulas defused)", CW,
                json!({ "parameters": id("id") }),
                json!({ "200": { "description": "CSV attachment", "content": { "text/csv": { "schema": { "type": "string" } } } } })) },
            "/api/photos/{id}": { "get": op("A case photo", CW, json!({ "parameters": id("id") }),
                json!({ "200": { "description": "Image bytes", "content": { "image/*": { "schema": { "type": "string", "format": "binary" } } } } })) },
            "/api/search": { "post": op("Rank cases against a photo (nothing stored)", CW,
                multipart(json!({ "photo": photo, "k": { "type": "integer", "minimum": 1, "maximum": 50 },
                    "include_closed": { "type": "boolean" },
                    "apparent_age": { "type": "string", "example": "8-11", "description": "soft prior" },
                    "sex": { "type": "string", "enum": ["female", "male", "unknown"], "description": "soft prior" } }), &["photo"]),
                json!({ "200": ok("Candidates, best first", arr("Candidate")) })) },
            "/api/batches": { "get": op("Batches run with `homeward batch` on this registry, newest first", CW, json!({}),
                json!({ "200": ok("Batches", arr("BatchStatus")) })),
                "post": op("Upload an archive: photos (and optionally the manifest CSV `homeward batch` reads), staged, then recorded in the background, each item once; at most 1000 photos and 1 GiB per upload (send more under the same name); on PostgreSQL queued for `homeward worker`s", CW,
                multipart(json!({ "name": { "type": "string", "maxLength": 200, "description": "the batch name; a re-upload under it records only what is not yet recorded" },
                    "photo": { "type": "array", "items": photo, "description": "one part per photo; its file name is the item's name (a relative path)" },
                    "manifest": { "type": "string", "description": "CSV path,when,where,age_range,sex listing exactly the photos sent" } }), &["name", "photo"]),
                json!({ "202": ok("Staged; follow progress_url", json!({ "type": "object", "properties": {
                    "batch": { "type": "string" }, "items": { "type": "integer" }, "queued": { "type": "integer" },
                    "progress_url": { "type": "string" } } })) })) },
            "/api/batches/{name}": { "get": op("A batch's progress and each item's outcome", CW,
                json!({ "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" },
                    "description": "the batch name, percent-encoded" }] }),
                json!({ "200": ok("Batch", r("Batch")) })) },
            "/api/review": { "get": op("The review queue (pending; ?all=true for every match), narrowed by case, band, state and assignee (or unassigned)", CW,
                json!({ "parameters": [
                    { "name": "all", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "case", "in": "query", "schema": { "type": "integer", "minimum": 1 } },
                    { "name": "band", "in": "query", "schema": { "type": "string", "enum": ["strong", "possible", "weak"] } },
                    { "name": "state", "in": "query", "schema": { "type": "string", "enum": ["pending", "confirmed", "rejected", "all"] } },
                    { "name": "assignee", "in": "query", "schema": { "type": "string" }, "description": "only matches assigned to this user" },
                    { "name": "mine", "in": "query", "schema": { "type": "boolean" }, "description": "only matches assigned to the caller" },
                    { "name": "unassigned", "in": "query", "schema": { "type": "boolean" }, "description": "only matches assigned to nobody (not with assignee or mine)" },
                    { "name": "new", "in": "query", "schema": { "type": "boolean" }, "description": "only matches new to the caller" }
                ] }),
                json!({ "200": ok("Queue", arr("QueueItem")), "400": err() })) },
            "/api/review/export.csv": { "get": op("The review queue as CSV, with the same filters as GET /api/review (does not move the caller's new mark)", CW,
                json!({ "parameters": [
                    { "name": "all", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "case", "in": "query", "schema": { "type": "integer", "minimum": 1 } },
                    { "name": "band", "in": "query", "schema": { "type": "string", "enum": ["strong", "possible", "weak"] } },
                    { "name": "state", "in": "query", "schema": { "type": "string", "enum": ["pending", "confirmed", "rejected", "all"] } },
                    { "name": "assignee", "in": "query", "schema": { "type": "string" } },
                    { "name": "mine", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "unassigned", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "new", "in": "query", "schema": { "type": "boolean" } }
                ] }),
                json!({ "200": { "description": "CSV attachment", "content": { "text/csv": { "schema": { "type": "string" } } } }, "400": err() })) },
            "/api/review/{id}/assign": { "post": op("Assign a match to an active case worker, or to nobody (null)", CW,
                { let mut b = json_body(json!({ "type": "object", "properties": {
                    "assignee": { "type": "string", "nullable": true, "description": "a case worker's user name; null unassigns" } } }), true); b["parameters"] = id("id"); b },
                json!({ "200": ok("Assigned", r("Assigned")) })) },
            "/api/review/{id}": { "get": op("A match with the sighting and the case's photos", CW, json!({ "parameters": id("id") }),
                json!({ "200": ok("Match", r("Review")) })) },
            "/api/review/{id}/confirm": { "post": op("Confirm a pending match", CW,
                { let mut b = json_body(json!({ "type": "object", "properties": { "note": { "type": "string" } } }), false); b["parameters"] = id("id"); b },
                json!({ "200": ok("Decided", r("Decision")), "409": err() })) },
            "/api/review/{id}/reject": { "post": op("Reject a pending match", CW,
                { let mut b = json_body(json!({ "type": "object", "properties": { "note": { "type": "string" } } }), false); b["parameters"] = id("id"); b },
                json!({ "200": ok("Decided", r("Decision")), "409": err() })) },
            "/api/review/{id}/undo": { "post": op("Take back a decision: the match is pending again, and a confirmation's enrolled face leaves the case's gallery", CW,
                json!({ "parameters": id("id") }),
                json!({ "200": ok("Undone", r("Undone")), "409": err() })) },
            "/api/users": {
                "get": op("List users", AD, json!({}), json!({ "200": ok("Users", arr("User")) })),
                "post": op("Create a user", AD, json_body(json!({ "type": "object", "required": ["username", "password", "role"], "properties": {
                    "username": { "type": "string" }, "password": { "type": "string", "minLength": 12 },
                    "role": { "type": "string", "enum": ["volunteer", "caseworker", "admin"] } } }), true),
                    json!({ "201": ok("Created", r("Created")), "409": err() }))
            },
            "/api/users/{id}": { "patch": op("Disable or enable a user", AD,
                { let mut b = json_body(json!({ "type": "object", "required": ["disabled"], "properties": { "disabled": { "type": "boolean" } } }), true); b["parameters"] = id("id"); b },
                json!({ "204": { "description": "Updated" }, "409": err() })) },
            "/api/tokens": {
                "get": op("List API tokens (no secrets)", AD, json!({}), json!({ "200": ok("Tokens", arr("Token")) })),
                "post": op("Create an API token for a user", AD, json_body(json!({ "type": "object", "required": ["user_id", "name"], "properties": {
                    "user_id": { "type": "integer" }, "name": { "type": "string" } } }), true),
                    json!({ "201": ok("Created; the secret is shown once", r("TokenCreated")) }))
            },
            "/api/tokens/{id}": { "delete": op("Revoke an API token", AD, json!({ "parameters": id("id") }), json!({ "204": { "description": "Revoked" } })) },
            "/api/audit": { "get": op("The access log, newest first", AD,
                json!({ "parameters": [{ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }] }),
                json!({ "200": ok("Entries", arr("AccessEntry")) })) }
        }
    })
}
