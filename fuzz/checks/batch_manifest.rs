//! The `batch_manifest` target's run and checks, shared by the fuzz target
//! and its corpus replay (`crates/homeward-match/tests/fuzz_corpus.rs`).
//!
//! Each input (as UTF-8) is read by `homeward_match::manifest::parse`.
//! Nothing panics; every item it returns has a relative path that stays in
//! the manifest's folder, and fields that pass the input rules again.

use homeward_core::rules::{AgeRange, CalendarDate, Name};
use homeward_match::manifest::{parse, ManifestError, ManifestItem, MAX_PATH_BYTES};

/// Parses `data` and checks what it returns; `None` if it is not UTF-8.
pub fn run(data: &[u8]) -> Option<Result<Vec<ManifestItem>, ManifestError>> {
    let text = std::str::from_utf8(data).ok()?;
    let parsed = parse(text);
    if let Ok(items) = &parsed {
        // Lines as CSV counts them: `\n`, `\r\n` and a bare `\r` (classic
        // Mac spreadsheets) each end one. `str::lines` ignores a bare `\r`,
        // and counting with it was this check's own bug (the fuzzer's
        // first find, `crash-6252…` in the corpus).
        let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
        assert!(items.len() <= lines, "more rows than lines");
        for it in items {
            let p = it.path.as_str();
            assert!(!p.is_empty() && p.len() <= MAX_PATH_BYTES);
            assert!(!p.starts_with(['/', '\\']), "absolute: {p:?}");
            assert!(!(p.len() >= 2 && p.as_bytes()[1] == b':'), "drive: {p:?}");
            assert!(
                p.split(['/', '\\']).all(|c| c != ".."),
                "leaves the folder: {p:?}"
            );
            assert!(!p.chars().any(char::is_control));
            if let Some(w) = &it.when {
                assert!(w.parse::<CalendarDate>().is_ok(), "when {w:?}");
            }
            if let Some(w) = &it.place {
                assert!(w.parse::<Name>().is_ok(), "where {w:?}");
            }
            if let Some((lo, hi)) = it.age {
                assert!(
                    format!("{lo}-{hi}").parse::<AgeRange>().is_ok(),
                    "age {lo}-{hi}"
                );
            }
        }
    }
    Some(parsed)
}
