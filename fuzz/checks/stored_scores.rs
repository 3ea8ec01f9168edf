//! The `stored_scores` target's run and checks, shared by the fuzz target and
//! its corpus replay (`crates/homeward-core/tests/fuzz_corpus.rs`).
//!
//! Each input (as UTF-8) is read by `StoredScores::parse`. Nothing panics, and
//! whatever parses is written back (`to_json`, always the current version)
//! and reads back equal, version aside.

use homeward_core::store::{ScoresError, StoredScores, SCORES_VERSION};

/// Parses `data` and checks the round trip; `None` if it is not UTF-8.
pub fn run(data: &[u8]) -> Option<Result<StoredScores, ScoresError>> {
    let text = std::str::from_utf8(data).ok()?;
    let parsed = StoredScores::parse(text);
    if let Ok(scores) = &parsed {
        assert!(scores.version <= SCORES_VERSION);
        let json = scores.to_json();
        let back = StoredScores::parse(&json)
            .unwrap_or_else(|e| panic!("written scores do not read back: {e}"));
        assert_eq!(back.version, SCORES_VERSION);
        let mut expected = scores.clone();
        expected.version = SCORES_VERSION;
        assert_eq!(back, expected, "the round trip changed the scores");
        assert_eq!(back.to_json(), json, "writing is not stable");
    }
    Some(parsed)
}
