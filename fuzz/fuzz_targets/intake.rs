//! Image intake on arbitrary bytes: every format the sniffer accepts, EXIF
//! orientation, the shape checks and the analysis memory estimate. Must
//! never panic, and never allocate past the limits (libFuzzer's -rss_limit_mb
//! and -malloc_limit_mb catch that).
#![no_main]

use homeward_core::intake::{inspect_bytes, load_bytes, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each execution fast; the code paths are the same.
    let limits = Limits {
        max_file_bytes: 1 << 20,
        max_pixels: 4_000_000,
        max_analysis_bytes: 1 << 30,
        ..Limits::default()
    };
    let header = inspect_bytes(data, &limits);
    let photo = load_bytes(data, &limits);
    // Whatever inspect accepts, decoding either succeeds with the same
    // upright size or fails with a typed error; inspect never accepts less.
    if let Ok(photo) = &photo {
        let h = header.expect("a photo that decodes passes inspection");
        assert_eq!(photo.image.dimensions(), (h.width, h.height));
    }
});
