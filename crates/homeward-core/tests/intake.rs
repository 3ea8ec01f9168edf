//! Intake tests: refusals of bad input (limits, corruption, unsupported
//! formats), each supported container, colour conversions, EXIF orientation,
//! and agreement with PIL on the real photos in `fixtures/`.
//!
//! Fixtures under `fixtures/intake/` come from `tools/make_intake_fixtures.py`
//! (see `fixtures/intake/README.md`); everything else is generated in memory
//! with the `image` crate's encoders.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use homeward_core::intake::{
    inspect_bytes, load_bytes, load_path, DecodeError, Format, Limits, Origin, Photo,
    DEFAULT_MAX_ANALYSIS_BYTES,
};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

// ---------------------------------------------------------------------------
// Allocation probe: records the largest single allocation made by the current
// thread, so a test can show a refusal happened before any pixel buffer.

struct ProbeAlloc;

thread_local! {
    static LARGEST_ALLOC: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for ProbeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn record(size: usize) {
    // `try_with` because thread-locals may be gone while a thread exits.
    let _ = LARGEST_ALLOC.try_with(|largest| largest.set(largest.get().max(size)));
}

#[global_allocator]
static GLOBAL: ProbeAlloc = ProbeAlloc;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOC.with(|largest| largest.set(0));
    let out = f();
    (out, LARGEST_ALLOC.with(Cell::get))
}

// ---------------------------------------------------------------------------
// Helpers.

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures").join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encoding {format:?}: {e}"));
    out.into_inner()
}

fn load(bytes: &[u8]) -> Result<Photo, DecodeError> {
    load_bytes(bytes, &any_shape())
}

/// The default limits without the shape checks (side, aspect ratio), for
/// the tests of decoding itself, which use tiny images.
fn any_shape() -> Limits {
    Limits {
        min_side: 1,
        max_aspect_ratio: u32::MAX,
        ..Limits::default()
    }
}

/// A small image with a different colour in every pixel.
fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 40) as u8, (y * 50) as u8, (x * 7 + y * 13) as u8])
    })
}

/// A scratch directory unique to one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("homeward-intake-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose IHDR declares `width`x`height` RGB8, followed by a tiny
/// (inconsistent) IDAT and IEND. Valid CRCs, so only the size is wrong.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, filter 0, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Rewrites the frame dimensions in a JPEG's SOF marker.
fn jpeg_declaring(mut jpeg: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            jpeg[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            jpeg[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            return jpeg;
        }
        i += 2 + len;
    }
    panic!("no SOF marker found");
}

fn assert_close(got: &Rgb<u8>, want: [u8; 3], tolerance: u8, what: &str) {
    let ok = got
        .0
        .iter()
        .zip(want)
        .all(|(&g, w)| g.abs_diff(w) <= tolerance);
    assert!(ok, "{what}: got {:?}, want {want:?} ±{tolerance}", got.0);
}

// ---------------------------------------------------------------------------
// Refusals.

#[test]
fn empty_input_is_refused() {
    assert!(matches!(
        load(&[]),
        Err(DecodeError::Empty {
            origin: Origin::Bytes
        })
    ));

    let dir = scratch_dir("empty");
    let path = dir.join("empty.jpg");
    std::fs::write(&path, b"").expect("write");
    match load_path(&path, &Limits::default()) {
        Err(DecodeError::Empty {
            origin: Origin::File(p),
        }) => assert_eq!(p, path),
        other => panic!("expected Empty, got {other:?}"),
    }
}

#[test]
fn a_directory_is_refused_by_name() {
    let dir = scratch_dir("directory");
    let err = load_path(&dir, &Limits::default()).expect_err("a directory is not a photo");
    assert!(matches!(&err, DecodeError::IsDirectory { path } if *path == dir));
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let path = scratch_dir("missing").join("nope.jpg");
    let err = load_path(&path, &Limits::default()).expect_err("missing file");
    assert!(matches!(&err, DecodeError::Io { path: p, .. } if *p == path));
    assert!(err.to_string().contains("nope.jpg"), "{err}");
}

#[test]
fn files_over_the_byte_limit_are_refused_before_reading() {
    let limits = Limits {
        max_file_bytes: 1_000,
        ..Limits::default()
    };
    let path = fixture("obama.jpg");
    let size = std::fs::metadata(&path).expect("fixture").len();
    let (result, largest) = largest_allocation(|| load_path(&path, &limits));
    match result {
        Err(DecodeError::TooLarge {
            origin: Origin::File(p),
            bytes,
            limit,
        }) => {
            assert_eq!((p, bytes, limit), (path, size, 1_000));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(
        largest < size as usize,
        "read the file ({largest} bytes) before refusing it"
    );

    let bytes = read_fixture("obama.jpg");
    let err = load_bytes(&bytes, &limits).expect_err("over the limit");
    assert!(matches!(
        err,
        DecodeError::TooLarge {
            origin: Origin::Bytes,
            limit: 1_000,
            ..
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("1000") && message.contains("max_file_bytes"),
        "{message}"
    );
}

#[test]
fn random_bytes_are_an_unsupported_format() {
    // A fixed xorshift stream: no magic number can appear by chance here.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    match load(&noise) {
        Err(DecodeError::UnsupportedFormat {
            origin: Origin::Bytes,
            detected: None,
        }) => {}
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }

    // The same noise behind a JPEG signature is recognised, then found corrupt.
    let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake.extend_from_slice(&noise);
    match load(&fake) {
        Err(DecodeError::Corrupt {
            format: Format::Jpeg,
            ..
        }) => {}
        other => panic!("expected Corrupt JPEG, got {other:?}"),
    }
}

#[test]
fn heic_is_named_in_the_refusal() {
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    match load(&heic) {
        Err(DecodeError::UnsupportedFormat {
            detected: Some(name),
            ..
        }) => {
            assert!(name.contains("HEIC"), "{name}");
        }
        other => panic!("expected UnsupportedFormat HEIC, got {other:?}"),
    }
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let jpeg = read_fixture("obama.jpg");
    for keep in [jpeg.len() / 2, jpeg.len() - 2, 600] {
        match load(&jpeg[..keep]) {
            Err(DecodeError::Corrupt {
                format: Format::Jpeg,
                ..
            }) => {}
            other => panic!("keeping {keep} bytes: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn truncated_files_of_every_other_format_are_corrupt() {
    let source = DynamicImage::ImageRgb8(pattern(64, 48));
    let mut cases: Vec<(Format, Vec<u8>)> = [
        (ImageFormat::Png, Format::Png),
        (ImageFormat::Gif, Format::Gif),
        (ImageFormat::Bmp, Format::Bmp),
        (ImageFormat::Tiff, Format::Tiff),
        (ImageFormat::WebP, Format::WebP),
    ]
    .into_iter()
    .map(|(encoder, format)| (format, encode(&source, encoder)))
    .collect();
    cases.push((Format::WebP, read_fixture("intake/lossy.webp")));
    for (format, bytes) in cases {
        let keep = bytes.len() * 2 / 3;
        match load(&bytes[..keep]) {
            Err(DecodeError::Corrupt { format: f, .. }) => assert_eq!(f, format),
            other => panic!(
                "{format} cut to {keep} of {} bytes: expected Corrupt, got {other:?}",
                bytes.len()
            ),
        }
    }
}

#[test]
fn png_declaring_ten_gigapixels_is_refused_before_allocating() {
    let png = png_declaring(100_000, 100_000);
    let (result, largest) = largest_allocation(|| load(&png));
    match result {
        Err(DecodeError::TooManyPixels {
            width,
            height,
            limit,
            ..
        }) => {
            assert_eq!((width, height, limit), (100_000, 100_000, 50_000_000));
        }
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    assert!(largest < 1 << 20, "largest allocation was {largest} bytes");
}

#[test]
fn jpeg_declaring_four_gigapixels_is_refused_before_allocating() {
    let jpeg = jpeg_declaring(read_fixture("obama.jpg"), 65_000, 65_000);
    let (result, largest) = largest_allocation(|| load(&jpeg));
    match result {
        Err(DecodeError::TooManyPixels {
            width: 65_000,
            height: 65_000,
            ..
        }) => {}
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    // The input itself is copied once by the JPEG decoder; nothing near the
    // 12 GB the pixels would take.
    assert!(largest < 4 << 20, "largest allocation was {largest} bytes");
}

#[test]
fn the_pixel_limit_is_configurable() {
    let limits = Limits {
        max_pixels: 1_000_000,
        ..Limits::default()
    };
    match load_path(&fixture("obama.jpg"), &limits) {
        Err(DecodeError::TooManyPixels {
            width: 910,
            height: 1137,
            limit: 1_000_000,
            ..
        }) => {}
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    // Below both sides: still reported with the dimensions, not as a decoder limit.
    let tiny = Limits {
        max_pixels: 1_000,
        ..Limits::default()
    };
    match load_path(&fixture("obama.jpg"), &tiny) {
        Err(DecodeError::TooManyPixels {
            width: 910,
            height: 1137,
            limit: 1_000,
            ..
        }) => {}
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    let exact = Limits {
        max_pixels: 910 * 1137,
        ..Limits::default()
    };
    assert!(load_path(&fixture("obama.jpg"), &exact).is_ok());
}

#[test]
fn zero_width_images_are_refused() {
    let result = load(&png_declaring(0, 16));
    assert!(
        matches!(
            result,
            Err(DecodeError::ZeroSize { .. })
                | Err(DecodeError::Corrupt {
                    format: Format::Png,
                    ..
                })
        ),
        "got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// Containers: each decodes to the pixels that were encoded.

#[test]
fn lossless_containers_round_trip_exactly() {
    let source = pattern(7, 5);
    for (format, expected) in [
        (ImageFormat::Png, Format::Png),
        (ImageFormat::Bmp, Format::Bmp),
        (ImageFormat::Tiff, Format::Tiff),
        (ImageFormat::WebP, Format::WebP),
    ] {
        let bytes = encode(&DynamicImage::ImageRgb8(source.clone()), format);
        let photo = load(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(photo.format, expected);
        assert_eq!(photo.orientation_applied, 1);
        assert_eq!(photo.image, source, "{format:?} pixels differ");
    }
}

#[test]
fn gif_gives_its_first_frame() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};
    let first = RgbaImage::from_fn(6, 4, |x, _| {
        if x < 3 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let second = RgbaImage::from_pixel(6, 4, Rgba([0, 255, 0, 255]));
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        let delay = Delay::from_numer_denom_ms(100, 1);
        encoder
            .encode_frames([first, second].map(|f| Frame::from_parts(f, 0, 0, delay)))
            .expect("encode gif");
    }
    let photo = load(&bytes).expect("gif decodes");
    assert_eq!(photo.format, Format::Gif);
    assert_eq!(photo.image.dimensions(), (6, 4));
    assert_close(photo.image.get_pixel(0, 0), [255, 0, 0], 8, "left half");
    assert_close(photo.image.get_pixel(5, 3), [0, 0, 255], 8, "right half");
}

#[test]
fn lossy_webp_decodes() {
    // fixtures/intake/lossy.webp: the upright quadrant picture, lossy VP8.
    let photo = load_path(&fixture("intake/lossy.webp"), &any_shape()).expect("lossy webp");
    assert_eq!(photo.format, Format::WebP);
    assert_upright(&photo, "lossy.webp");
}

#[test]
fn palette_png_and_transparent_gif_decode_like_pil() {
    // fixtures/intake/palette.png: the quadrant picture as a 4-colour palette.
    let photo = load_path(&fixture("intake/palette.png"), &any_shape()).expect("palette png");
    assert_upright(&photo, "palette.png");
    // fixtures/intake/transparent.gif: the quadrant picture, with the white
    // quadrant's palette entry marked transparent. PIL's convert('RGB')
    // keeps the palette colour; so must we.
    let photo = load_path(&fixture("intake/transparent.gif"), &any_shape()).expect("gif");
    assert_eq!(photo.format, Format::Gif);
    assert_upright(&photo, "transparent.gif");
}

#[test]
fn lossy_jpeg_decodes_close_to_the_source() {
    // A smooth image, which lossy codecs keep well.
    let source = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 128]));
    let jpeg = encode(&DynamicImage::ImageRgb8(source.clone()), ImageFormat::Jpeg);
    let photo = load(&jpeg).expect("jpeg decodes");
    assert_eq!(photo.format, Format::Jpeg);
    let diff: u64 = photo
        .image
        .as_raw()
        .iter()
        .zip(source.as_raw())
        .map(|(&a, &b)| u64::from(a.abs_diff(b)))
        .sum();
    let mean = diff as f64 / source.as_raw().len() as f64;
    assert!(mean < 3.0, "mean abs difference {mean}");
}

// ---------------------------------------------------------------------------
// Colour handling: everything ends as 8-bit RGB, like PIL's convert('RGB').

#[test]
fn grayscale_is_replicated_to_rgb() {
    let gray = image::GrayImage::from_fn(4, 3, |x, y| image::Luma([(x * 60 + y) as u8]));
    let photo = load(&encode(
        &DynamicImage::ImageLuma8(gray.clone()),
        ImageFormat::Png,
    ))
    .expect("decodes");
    for (x, y, p) in photo.image.enumerate_pixels() {
        let v = gray.get_pixel(x, y)[0];
        assert_eq!(p.0, [v, v, v], "pixel {x},{y}");
    }
}

#[test]
fn alpha_is_dropped_not_composited() {
    use image::{Rgba, RgbaImage};
    let rgba = RgbaImage::from_fn(4, 2, |x, y| {
        Rgba([10 + x as u8, 20 + y as u8, 30, (x * 80) as u8])
    });
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Tiff] {
        let photo =
            load(&encode(&DynamicImage::ImageRgba8(rgba.clone()), format)).expect("decodes");
        for (x, y, p) in photo.image.enumerate_pixels() {
            let q = rgba.get_pixel(x, y);
            assert_eq!(
                p.0,
                [q[0], q[1], q[2]],
                "{format:?} pixel {x},{y} (alpha {})",
                q[3]
            );
        }
    }
    // Grey plus alpha, too.
    let la = image::GrayAlphaImage::from_fn(3, 1, |x, _| image::LumaA([50 * x as u8, 0]));
    let photo = load(&encode(&DynamicImage::ImageLumaA8(la), ImageFormat::Png)).expect("decodes");
    assert_eq!(
        photo.image.as_raw(),
        &vec![0, 0, 0, 50, 50, 50, 100, 100, 100]
    );
}

#[test]
fn sixteen_bit_samples_are_scaled_to_eight_bits() {
    // 0 -> 0, 65535 -> 255, 257*v -> v for every v.
    let rgb16 = image::ImageBuffer::<Rgb<u16>, _>::from_fn(3, 1, |x, _| match x {
        0 => Rgb([0, 65_535, 257 * 128]),
        1 => Rgb([257 * 17, 257 * 200, 257 * 255]),
        _ => Rgb([65_535, 0, 257]),
    });
    let photo = load(&encode(&DynamicImage::ImageRgb16(rgb16), ImageFormat::Png)).expect("decodes");
    assert_eq!(
        photo.image.as_raw(),
        &vec![0, 255, 128, 17, 200, 255, 255, 0, 1]
    );

    let gray16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(2, 1, |x, _| {
        image::Luma([if x == 0 { 257 * 99 } else { 65_535 }])
    });
    let photo = load(&encode(
        &DynamicImage::ImageLuma16(gray16),
        ImageFormat::Png,
    ))
    .expect("decodes");
    assert_eq!(photo.image.as_raw(), &vec![99, 99, 99, 255, 255, 255]);
}

#[test]
fn cmyk_jpeg_converts_like_pil() {
    // fixtures/intake/cmyk.jpg: quadrants cyan, magenta / yellow, black (Adobe CMYK).
    let photo = load_path(&fixture("intake/cmyk.jpg"), &any_shape()).expect("cmyk decodes");
    assert_eq!(photo.format, Format::Jpeg);
    assert_eq!(photo.image.dimensions(), (32, 16));
    let at = |x, y| photo.image.get_pixel(x, y);
    assert_close(at(4, 4), [0, 255, 255], 6, "cyan");
    assert_close(at(27, 4), [255, 0, 255], 6, "magenta");
    assert_close(at(4, 12), [255, 255, 0], 6, "yellow");
    assert_close(at(27, 12), [0, 0, 0], 6, "black");
}

// ---------------------------------------------------------------------------
// EXIF orientation: every fixture decodes to the same upright picture, 32x16
// with red, green / blue, white quadrants (see tools/make_intake_fixtures.py).

fn assert_upright(photo: &Photo, what: &str) {
    assert_eq!(photo.image.dimensions(), (32, 16), "{what}: dimensions");
    let at = |x, y| photo.image.get_pixel(x, y);
    for (x, y, want, name) in [
        (4, 4, [220, 30, 30], "top left red"),
        (27, 4, [30, 200, 40], "top right green"),
        (4, 11, [40, 60, 220], "bottom left blue"),
        (27, 11, [240, 240, 240], "bottom right white"),
    ] {
        assert_close(at(x, y), want, 10, &format!("{what}: {name}"));
    }
}

#[test]
fn all_eight_jpeg_orientations_come_out_upright() {
    for orientation in 1..=8u8 {
        let name = format!("intake/orientation_{orientation}.jpg");
        let photo =
            load_path(&fixture(&name), &any_shape()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(photo.orientation_applied, orientation, "{name}");
        assert_upright(&photo, &name);
    }
}

#[test]
fn png_webp_and_tiff_orientation_tags_are_applied() {
    for (name, orientation, format) in [
        ("intake/orientation_6.png", 6, Format::Png),
        ("intake/orientation_8.webp", 8, Format::WebP),
        ("intake/orientation_3.tiff", 3, Format::Tiff),
    ] {
        let photo =
            load_path(&fixture(name), &any_shape()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (photo.format, photo.orientation_applied),
            (format, orientation),
            "{name}"
        );
        assert_upright(&photo, name);
    }
}

// ---------------------------------------------------------------------------
// Real photos against PIL's decode (fixtures/intake/pil_reference.json holds
// PIL's size and 8x8 block means for each fixtures/*.jpg).

#[test]
fn real_photos_match_pil_decode() {
    let text = std::fs::read_to_string(fixture("intake/pil_reference.json")).expect("reference");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference json");
    let entries = reference.as_object().expect("object");
    assert!(
        entries.contains_key("obama.jpg"),
        "obama.jpg missing from the reference"
    );
    for (name, entry) in entries {
        let photo =
            load_path(&fixture(name), &any_shape()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (w, h) = photo.image.dimensions();
        assert_eq!(
            (u64::from(w), u64::from(h)),
            (
                entry["width"].as_u64().unwrap_or(0),
                entry["height"].as_u64().unwrap_or(0)
            ),
            "{name}: size"
        );
        let grid = entry["grid"].as_u64().unwrap_or(0) as u32;
        let means = entry["block_means"].as_array().expect("block means");
        assert_eq!(means.len() as u32, grid * grid);
        let mut worst = 0.0f64;
        for by in 0..grid {
            for bx in 0..grid {
                let (x0, x1) = (bx * w / grid, (bx + 1) * w / grid);
                let (y0, y1) = (by * h / grid, (by + 1) * h / grid);
                let mut sum = [0.0f64; 3];
                for y in y0..y1 {
                    for x in x0..x1 {
                        for (s, &v) in sum.iter_mut().zip(&photo.image.get_pixel(x, y).0) {
                            *s += f64::from(v);
                        }
                    }
                }
                let n = f64::from((x1 - x0) * (y1 - y0));
                let want = &means[(by * grid + bx) as usize];
                for (c, s) in sum.iter().enumerate() {
                    let diff = (s / n - want[c].as_f64().unwrap_or(f64::NAN)).abs();
                    worst = worst.max(diff);
                }
            }
        }
        assert!(
            worst < 1.0,
            "{name}: a block mean differs from PIL's by {worst}"
        );
    }
}

#[test]
fn obama_loads_upright_with_its_size() {
    let (result, largest) =
        largest_allocation(|| load_path(&fixture("obama.jpg"), &Limits::default()));
    let photo = result.expect("obama.jpg");
    // Also shows the allocation probe sees the pixel buffer, so the
    // "refused before allocating" tests above are not vacuous.
    assert!(largest >= 910 * 1137 * 3, "largest allocation {largest}");
    assert_eq!(photo.format, Format::Jpeg);
    assert_eq!(photo.image.dimensions(), (910, 1137));
    assert_eq!(photo.orientation_applied, 1);
}

/// Issue 13: a 3,000,000 x 1 PNG of 3 KB drove the detector to 5 GB (it pads
/// every side). Strips and slivers are refused from the header now.
#[test]
fn strips_and_slivers_are_refused_before_allocating() {
    let limits = Limits::default();
    let (result, largest) =
        largest_allocation(|| load_bytes(&png_declaring(3_000_000, 1), &limits));
    match result {
        Err(DecodeError::TooSmall {
            width: 3_000_000,
            height: 1,
            min_side: 32,
            ..
        }) => {}
        other => panic!("expected TooSmall, got {other:?}"),
    }
    assert!(largest < 1 << 20, "largest allocation was {largest} bytes");
    match load_bytes(&png_declaring(2000, 40), &limits) {
        Err(e @ DecodeError::AspectRatio { limit: 20, .. }) => {
            assert!(e.to_string().contains("crop the photo"), "{e}")
        }
        other => panic!("expected AspectRatio, got {other:?}"),
    }
    // 20:1 exactly passes the shape checks (the forged file then fails to decode).
    assert!(inspect_bytes(&png_declaring(800, 40), &limits).is_ok());
}

/// Issue 13: an all-black 7000 x 7000 PNG cost 2.6 GB. Its analysis is
/// estimated from the header and refused over the per-photo budget, while
/// a 12-megapixel phone photo fits the default.
#[test]
fn a_photo_whose_analysis_would_not_fit_is_refused_before_allocating() {
    let big = png_declaring(7000, 7000);
    let (result, largest) = largest_allocation(|| load_bytes(&big, &Limits::default()));
    let needed = match result {
        Err(
            ref e @ DecodeError::OverBudget {
                width: 7000,
                height: 7000,
                needed_mib,
                limit_mib: 2048,
                ..
            },
        ) => {
            assert!(e.to_string().contains("MiB per photo"), "{e}");
            needed_mib
        }
        other => panic!("expected OverBudget, got {other:?}"),
    };
    assert!(needed > 2048, "{needed}");
    assert!(largest < 1 << 20, "largest allocation was {largest} bytes");
    // With room for it, the same header passes and reports the same estimate.
    let roomy = Limits {
        max_analysis_bytes: 8 << 30,
        ..Limits::default()
    };
    let header = inspect_bytes(&big, &roomy).expect("fits 8 GiB");
    assert_eq!(header.cost.peak_bytes.div_ceil(1 << 20), needed);
    let phone = inspect_bytes(&png_declaring(4032, 3024), &Limits::default())
        .expect("a 12-megapixel photo fits the default budget");
    assert!(phone.cost.peak_bytes < DEFAULT_MAX_ANALYSIS_BYTES);
    assert!(phone.cost.detect_bytes > phone.cost.decode_bytes);
}
