//! Polling until something holds.

use std::time::{Duration, Instant};

/// Polls `f` every `every` until it says yes or `limit` passes; how long
/// it took.
pub fn within(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Polls `f` every `every` until it says yes; panics, naming `what`,
/// when `limit` passes first.
pub fn eventually(what: &str, limit: Duration, every: Duration, f: impl FnMut() -> bool) {
    assert!(within(limit, every, f).is_some(), "timed out: {what}");
}
