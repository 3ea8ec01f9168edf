//! Cooperative cancellation of an analysis: "should this work stop now?"
//!
//! A caller that may abandon an analysis (a server whose request timed out or
//! whose client went away) makes a [`Cancel`], runs the analysis inside
//! [`Cancel::scope`] on its worker thread, and calls [`Cancel::cancel`] from
//! anywhere. The detector checks the flag before each pyramid level it builds
//! and before each network layer it runs, and the engine checks it before
//! landmarks and embeddings; a cancelled analysis returns no faces within one
//! layer's time, and its memory is freed as it unwinds normally.
//!
//! The flag travels in a thread-local so that the signatures of the face
//! pipeline (and of everything that calls it) do not change. Work handed to
//! other threads (rayon) inside one layer finishes that layer.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation flag shared between the thread doing an analysis and
/// whoever may call it off.
///
/// ```
/// use homeward_core::faces::Cancel;
/// let cancel = Cancel::new();
/// let other = cancel.clone();
/// other.cancel();
/// assert!(cancel.scope(|| homeward_core::faces::cancel_requested()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the analysis running under this flag to stop at its next check.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Runs `f` on this thread with this flag as the current one; the
    /// previous flag (if any) is restored afterwards, even on panic.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<AtomicBool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = prev);
            }
        }
        let prev = CURRENT.with(|c| c.borrow_mut().replace(self.flag.clone()));
        let _restore = Restore(prev);
        f()
    }
}

/// Whether the analysis running on this thread has been cancelled (always
/// `false` outside [`Cancel::scope`]).
pub fn cancel_requested() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_seen_only_inside_its_scope() {
        let cancel = Cancel::new();
        assert!(!cancel.scope(cancel_requested));
        cancel.cancel();
        assert!(cancel.scope(cancel_requested));
        assert!(
            !cancel_requested(),
            "outside the scope nothing is cancelled"
        );
        // Nested scopes restore the outer flag.
        let inner = Cancel::new();
        cancel.scope(|| {
            assert!(!inner.scope(cancel_requested));
            assert!(cancel_requested());
        });
    }
}
