//! Replays the `multipart` fuzz target's seed corpus (`fuzz/corpus/multipart/`)
//! on the stable toolchain with the target's own checks
//! (`fuzz/checks/multipart.rs`), so every seed runs in CI even where
//! cargo-fuzz (nightly) is unavailable. Both include the server's form
//! reader (`src/server/multipart.rs`) itself: `homeward` has no library
//! target, and the reader depends only on `multer` and `thiserror`.

use std::path::Path;

#[allow(dead_code)]
#[path = "../src/server/multipart.rs"]
mod multipart;

#[path = "../../../fuzz/checks/multipart.rs"]
mod checks;

use checks::Outcome;

/// What a seed must come to, read as a photo upload or as an archive form.
#[derive(Debug)]
enum Expect {
    /// Read; the photo has this many bytes (upload) or there are this many
    /// photos (archive).
    Ok(usize),
    /// Read, but the upload has no photo (`take_photo`: 400).
    NoPhoto,
    /// Refused with this status, the message containing this text.
    Refused(u16, &'static str),
}
use Expect::{NoPhoto, Ok as Read, Refused};

/// Every seed, by name: (as a photo upload, as an archive form). Crash
/// inputs the fuzzer found (`crash-*`) are replayed without a row.
const SEEDS: &[(&str, Expect, Expect)] = &[
    // The manifest text is over the photo form's 64-byte field limit.
    (
        "archive_manifest",
        Refused(413, "field `manifest` is over 64 bytes; shorten it"),
        Read(2),
    ),
    ("archive_page_csrf", Read(22), Read(1)),
    (
        "bad_empty_photo",
        NoPhoto,
        Refused(422, "photo `a.jpg` is empty; choose the file again"),
    ),
    (
        "bad_field_too_long",
        Refused(413, "field `place` is over 64 bytes; shorten it"),
        Refused(
            413,
            "field `place` is over 64 bytes; this form takes `name`",
        ),
    ),
    // A part whose header lines (17 KB of them) never end with the blank
    // line: before, multer kept them all and the body's end made it a 400.
    (
        "bad_endless_part_header",
        Refused(413, "a part's headers are over 16384 bytes"),
        Refused(413, "a part's headers are over 16384 bytes"),
    ),
    ("bad_header_line", Refused(400, ""), Refused(400, "")),
    (
        "bad_item_dotdot",
        Read(22),
        Refused(422, "photo file name is not a plain relative path"),
    ),
    (
        "bad_no_boundary",
        Refused(400, "Invalid `boundary` for `multipart/form-data` request"),
        Refused(400, "Invalid `boundary` for `multipart/form-data` request"),
    ),
    (
        "bad_no_closing_delimiter",
        Refused(400, ""),
        Refused(400, ""),
    ),
    (
        "bad_not_utf8",
        Refused(400, "field `name` is not UTF-8 text"),
        Refused(400, "field `name` is not UTF-8 text"),
    ),
    (
        "bad_over_body_limit",
        Refused(413, "Request payload is too large"),
        Refused(
            413,
            "photo `huge.jpg` is over this server's limit of 300 bytes",
        ),
    ),
    (
        "bad_photo_too_large",
        Read(402),
        Refused(
            413,
            "photo `big.jpg` is over this server's limit of 300 bytes",
        ),
    ),
    (
        "bad_photo_without_file_name",
        Read(22),
        Refused(400, "a `photo` part has no file name"),
    ),
    // 65 near-empty parts: over the photo form's 64 and the archive form's
    // 4 + 32.
    (
        "bad_too_many_parts",
        Refused(413, "the form has more than 64 parts"),
        Refused(413, "the form has more than 36 parts"),
    ),
    (
        "bad_long_field_name",
        Refused(413, "a field name is over 64 bytes"),
        Refused(413, "a field name is over 64 bytes"),
    ),
    (
        "bad_too_many_photos",
        Read(22),
        Refused(413, "more than 4 photos in one upload"),
    ),
    (
        "bad_total_too_large",
        Read(250),
        Refused(413, "the upload is over 0 MiB"),
    ),
    ("bad_truncated", Refused(400, ""), Refused(400, "")),
    (
        "upload_camera_and_gallery",
        Read(22),
        Refused(422, "photo file name missing"),
    ),
    ("upload_chinese_note", Read(22), Read(1)),
    ("upload_photo_only", Read(22), Read(1)),
    ("upload_sighting_fields", Read(22), Read(1)),
];

fn check<T>(
    seed: &str,
    what: &str,
    got: &Result<T, multipart::FormError>,
    n: impl Fn(&T) -> Option<usize>,
    want: &Expect,
) {
    match (got, want) {
        (Ok(v), Read(k)) => assert_eq!(n(v), Some(*k), "{seed} as {what}"),
        (Ok(v), NoPhoto) => assert_eq!(n(v), None, "{seed} as {what}: a photo"),
        (Err(e), Refused(status, text)) => {
            assert_eq!(e.status(), *status, "{seed} as {what}: {e}");
            assert!(e.to_string().contains(text), "{seed} as {what}: {e}");
        }
        (got, want) => panic!(
            "{seed} as {what}: want {want:?}, got {:?}",
            got.as_ref().err()
        ),
    }
}

#[test]
fn multipart_seeds_read_or_are_refused_as_the_fuzz_target_expects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/multipart");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    seeds.sort();
    let (mut named, mut named_415) = (0, 0);
    for p in &seeds {
        let name = p.file_name().and_then(|n| n.to_str()).expect("seed name");
        let bytes = std::fs::read(p).expect("seed");
        let outcome = checks::run(&bytes);
        if name.starts_with("crash") {
            continue; // the checks above are the test
        }
        if let Outcome::NotMultipart = outcome {
            // The one seed that is not multipart: the server's 415.
            assert_eq!(name, "bad_not_multipart");
            named_415 += 1;
            continue;
        }
        let (_, up, form) = SEEDS
            .iter()
            .find(|(n, ..)| *n == name)
            .unwrap_or_else(|| panic!("{name}: a seed without an expected outcome"));
        named += 1;
        let Outcome::Read { upload, form: read } = outcome else {
            panic!("{name}: not multipart");
        };
        check(
            name,
            "a photo upload",
            &upload,
            |u| u.photo.as_ref().filter(|p| !p.is_empty()).map(Vec::len),
            up,
        );
        check(
            name,
            "an archive form",
            &read,
            |(f, _)| Some(f.photos.len()),
            form,
        );
    }
    assert_eq!(
        (named, named_415),
        (SEEDS.len(), 1),
        "a listed seed is missing"
    );
}
