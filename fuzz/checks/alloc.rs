//! A global allocator for the fuzz targets that refuses (panics on) any one
//! allocation larger than a budget set per input, so that "no allocation
//! beyond what the input can hold" is checked at every size, not only when
//! libFuzzer's RSS limit trips.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Largest single allocation allowed while the current input runs.
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The allocator; install with `#[global_allocator]`.
pub struct Capped;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    // A panic already under way (and its backtrace) is not the input's doing.
    if std::thread::panicking() {
        return;
    }
    let limit = LIMIT.load(Relaxed);
    if size > limit {
        // Lift the cap first: the panic itself allocates.
        LIMIT.store(usize::MAX, Relaxed);
        panic!("one allocation of {size} bytes for an input allowed {limit}");
    }
}

/// Runs `f` with single allocations capped at `factor` times the input's
/// length plus `slack` bytes.
pub fn capped<T>(input_len: usize, factor: usize, slack: usize, f: impl FnOnce() -> T) -> T {
    let limit = input_len.saturating_mul(factor).saturating_add(slack);
    LIMIT.store(limit, Relaxed);
    let out = f();
    LIMIT.store(usize::MAX, Relaxed);
    out
}
