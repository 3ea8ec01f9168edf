//! Intake never lets a file's own size fields ask for more memory than the
//! file could need. This binary's allocator refuses any single allocation
//! over 256 MiB, so an intake that tries one aborts the test.

use std::alloc::{GlobalAlloc, Layout, System};

use homeward_core::intake::{inspect_bytes, load_bytes, Limits};

/// Far above anything a 122-byte photo needs, far below what it claims.
const CAP: usize = 256 << 20;

struct Capped;

// SAFETY: forwards to `System`, refusing (null) only what is over `CAP`.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

#[test]
fn a_webp_whose_exif_chunk_claims_4_gib_is_read_without_allocating_it() {
    // Found by the `intake` fuzz target under AddressSanitizer: 122 bytes,
    // a small lossless image, then an EXIF chunk whose size says 0xFFFFFF1A.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/intake/bad_exif_chunk_claims_4gib.webp"
    ))
    .unwrap();
    assert_eq!(bytes.len(), 122);
    let header = inspect_bytes(&bytes, &Limits::default()).unwrap();
    // Its metadata cannot be read, so it counts as upright.
    assert_eq!(header.orientation, 1);
    assert_eq!((header.width, header.height), (64, 32));
    // Decoding either succeeds or is refused with an error; it never asks
    // for the 4 GiB.
    match load_bytes(&bytes, &Limits::default()) {
        Ok(photo) => assert_eq!(photo.orientation_applied, 1),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
