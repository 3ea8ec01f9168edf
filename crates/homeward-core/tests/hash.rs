//! Tests of `homeward_core::hash`, grouped by topic:
//! - PDQ against golden hashes from an independent oracle (bit-exact);
//! - PDQ behaviour: size limit, quality, dihedral variants;
//! - `Hash256` hex round trip;
//! - face-chip hash robustness and guards;
//! - `HammingIndex` exactness against brute force, updates and persistence.

use std::path::{Path, PathBuf};

use homeward_core::hash::{
    chip_hash, pdq, pdq_dihedral, HammingIndex, Hash256, HashError, HashKind, PdqDihedral,
    CHIP_MIN_CONTRAST, INDEX_FORMAT_VERSION, PDQ_MIN_SIDE,
};
use image::{imageops, Rgb, RgbImage};
use sha2::{Digest, Sha256};

/// The matching library's same-photo thresholds (`homeward_match::policy`):
/// the hashes must keep edited copies within them. Policy lives in the
/// library; these tests check that the core's hashes support it.
const PDQ_SAME_PHOTO: u32 = 63;
const CHIP_SAME_FACE: u32 = 64;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_rgb(path: &Path) -> RgbImage {
    match image::open(path) {
        Ok(img) => img.to_rgb8(),
        Err(e) => panic!("cannot decode {}: {e}", path.display()),
    }
}

/// Deterministic test randomness (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn hash(&mut self) -> Hash256 {
        Hash256([self.next(), self.next(), self.next(), self.next()])
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Flips `k` distinct random bits.
fn flip_bits(rng: &mut Rng, h: Hash256, k: u32) -> Hash256 {
    let mut out = h;
    while out.distance(&h) < k {
        let bit = rng.below(256) as usize;
        out.0[bit / 64] ^= 1 << (bit % 64);
    }
    out
}

// ---- PDQ against the oracle ------------------------------------------------
// fixtures/golden/pdq/golden.json comes from tools/pdq_golden.py (PyPI
// `pdqhash`, which compiles Meta's C++ reference). Comparison is exact.

#[test]
fn pdq_matches_reference_bit_for_bit() {
    let dir = repo_root().join("fixtures/golden/pdq");
    let text = std::fs::read_to_string(dir.join("golden.json")).expect("golden.json is committed");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("golden.json parses");
    let cases = doc["cases"].as_array().expect("cases array");
    assert!(cases.len() >= 30, "expected the full golden set");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let mut img = load_rgb(&dir.join(case["input"].as_str().unwrap_or("")));
        img = match case["transform"].as_str() {
            Some("rotate90") => imageops::rotate270(&img), // counter-clockwise, like PIL's ROTATE_90
            Some("mirror") => imageops::flip_horizontal(&img),
            _ => img,
        };
        let sha: String = Sha256::digest(img.as_raw())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sha,
            case["pixels_sha256"].as_str().unwrap_or(""),
            "{name}: pixels differ from the oracle's"
        );

        let single = pdq(&img).expect("golden inputs are large enough");
        let expect = Hash256::from_hex(case["pdq"].as_str().unwrap_or("")).expect("golden hex");
        if single.hash != expect
            || i64::from(single.quality) != case["quality"].as_i64().unwrap_or(-1)
        {
            failures.push(format!(
                "{name}: pdq {} (q {}) vs oracle {} (q {}), {} bits differ",
                single.hash,
                single.quality,
                expect,
                case["quality"],
                single.hash.distance(&expect)
            ));
        }
        let dihedral = pdq_dihedral(&img).expect("golden inputs are large enough");
        for (k, want) in case["dihedral"]
            .as_array()
            .expect("dihedral")
            .iter()
            .enumerate()
        {
            let want = Hash256::from_hex(want.as_str().unwrap_or("")).expect("golden hex");
            if dihedral.hashes[k] != want {
                failures.push(format!(
                    "{name}: dihedral[{k}] {} vs oracle {want}, {} bits differ",
                    dihedral.hashes[k],
                    dihedral.hashes[k].distance(&want)
                ));
            }
        }
        if i64::from(dihedral.quality) != case["dihedral_quality"].as_i64().unwrap_or(-1) {
            failures.push(format!(
                "{name}: dihedral quality {} vs {}",
                dihedral.quality, case["dihedral_quality"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- PDQ behaviour ---------------------------------------------------------

fn golden_input(name: &str) -> RgbImage {
    load_rgb(&repo_root().join("fixtures/golden/pdq/inputs").join(name))
}

#[test]
fn pdq_refuses_photos_under_the_minimum_side() {
    let narrow = RgbImage::from_pixel(PDQ_MIN_SIDE - 1, 300, Rgb([10, 200, 30]));
    match pdq(&narrow) {
        Err(HashError::ImageTooSmall { width, height, min }) => {
            assert_eq!((width, height, min), (PDQ_MIN_SIDE - 1, 300, PDQ_MIN_SIDE));
        }
        other => panic!("expected ImageTooSmall, got {other:?}"),
    }
    assert!(matches!(
        pdq_dihedral(&RgbImage::new(300, 5)),
        Err(HashError::ImageTooSmall { .. })
    ));
    assert!(matches!(
        pdq(&RgbImage::new(0, 0)),
        Err(HashError::ImageTooSmall { .. })
    ));
    let message = pdq(&narrow)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let (size, min) = (
        format!("{}x300", PDQ_MIN_SIDE - 1),
        format!("{PDQ_MIN_SIDE}x{PDQ_MIN_SIDE}"),
    );
    assert!(
        message.contains(&size) && message.contains(&min),
        "{message}"
    );
}

#[test]
fn pdq_hashes_a_quarter_size_copy_close_to_the_original() {
    // A quarter of a 250 px photo is 62 px: above the minimum, and the
    // hash still describes the picture.
    for name in ["obama2_original.png", "grace_hopper_original.png"] {
        let img = golden_input(name);
        let (w, h) = (
            img.width() * 62 / img.width().max(img.height()),
            img.height() * 62 / img.width().max(img.height()),
        );
        assert!(w.min(h) >= PDQ_MIN_SIDE, "{name}: {w}x{h}");
        let small = imageops::resize(&img, w, h, imageops::FilterType::CatmullRom);
        let d = pdq(&small)
            .expect("hashable")
            .hash
            .distance(&pdq(&img).expect("hashable").hash);
        assert!(d <= PDQ_SAME_PHOTO, "{name}: quarter size moved {d} bits");
    }
    let a = imageops::resize(
        &golden_input("obama2_original.png"),
        62,
        62,
        imageops::FilterType::CatmullRom,
    );
    let b = imageops::resize(
        &golden_input("grace_hopper_original.png"),
        62,
        62,
        imageops::FilterType::CatmullRom,
    );
    assert!(
        pdq(&a)
            .expect("hashable")
            .hash
            .distance(&pdq(&b).expect("hashable").hash)
            > 64
    );
}

#[test]
fn pdq_quality_separates_flat_from_detailed_photos() {
    let flat = pdq(&RgbImage::from_pixel(200, 150, Rgb([120, 120, 120]))).expect("hashable");
    assert_eq!(flat.quality, 0);
    let photo = pdq(&golden_input("grace_hopper_half.png")).expect("hashable");
    assert!(
        photo.quality >= homeward_core::hash::PDQ_MIN_QUALITY,
        "quality {}",
        photo.quality
    );
}

#[test]
fn pdq_survives_reencoding_and_resizing_but_not_another_photo() {
    let original = pdq(&golden_input("obama2_original.png"))
        .expect("hashable")
        .hash;
    for variant in ["obama2_half.png", "obama2_jpeg_q40.png", "obama2_gray.png"] {
        let d = pdq(&golden_input(variant))
            .expect("hashable")
            .hash
            .distance(&original);
        assert!(d <= PDQ_SAME_PHOTO, "{variant}: distance {d}");
    }
    let other = pdq(&golden_input("grace_hopper_original.png"))
        .expect("hashable")
        .hash;
    assert!(other.distance(&original) > 64);
}

#[test]
fn dihedral_hashes_match_hashes_of_transformed_photos() {
    let img = golden_input("astronaut_half.png");
    let d = pdq_dihedral(&img).expect("hashable");
    assert_eq!(
        d.hashes[PdqDihedral::ORIGINAL],
        pdq(&img).expect("hashable").hash
    );
    let transformed = [
        (PdqDihedral::ROTATE_90, imageops::rotate270(&img)),
        (PdqDihedral::ROTATE_180, imageops::rotate180(&img)),
        (PdqDihedral::ROTATE_270, imageops::rotate90(&img)),
        (PdqDihedral::FLIP_X, imageops::flip_vertical(&img)),
        (PdqDihedral::FLIP_Y, imageops::flip_horizontal(&img)),
    ];
    for (k, t) in transformed {
        let h = pdq(&t).expect("hashable").hash;
        for (j, candidate) in d.hashes.iter().enumerate() {
            let dist = h.distance(candidate);
            if j == k {
                assert!(
                    dist <= 40,
                    "variant {k}: distance {dist} to its derived hash"
                );
            } else {
                assert!(
                    dist > 64,
                    "variant {k}: unexpectedly close ({dist}) to derived hash {j}"
                );
            }
        }
    }
}

// ---- Hash256 hex -----------------------------------------------------------

#[test]
fn hex_round_trips_and_rejects_malformed_input() {
    let mut rng = Rng(1);
    for _ in 0..100 {
        let h = rng.hash();
        let hex = h.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(Hash256::from_hex(&hex).expect("valid"), h);
        assert_eq!(Hash256::from_hex(&hex.to_uppercase()).expect("valid"), h);
    }
    // Bit 0 is the last hex digit's lowest bit, bit 255 the first digit's highest.
    assert_eq!(
        Hash256([1, 0, 0, 0]).to_hex(),
        format!("{}1", "0".repeat(63))
    );
    assert_eq!(
        Hash256([0, 0, 0, 1 << 63]).to_hex(),
        format!("8{}", "0".repeat(63))
    );
    assert!(matches!(
        Hash256::from_hex("abc"),
        Err(HashError::InvalidHex { len: 3, .. })
    ));
    let bad = format!("{}g", "0".repeat(63));
    assert!(matches!(
        Hash256::from_hex(&bad),
        Err(HashError::InvalidHex { len: 64, .. })
    ));
    let plus = format!("+{}", "0".repeat(63));
    assert!(Hash256::from_hex(&plus).is_err());
    let multibyte = format!("é{}", "0".repeat(62));
    assert!(Hash256::from_hex(&multibyte).is_err());
}

// ---- Face-chip hash --------------------------------------------------------
// The chips are square face crops resized to 150x150, standing in for the
// face pipeline's aligned chips.

fn face_chip(photo: &str, x: u32, y: u32, side: u32) -> RgbImage {
    let img = load_rgb(&repo_root().join("fixtures").join(photo));
    let crop = imageops::crop_imm(&img, x, y, side, side).to_image();
    imageops::resize(&crop, 150, 150, imageops::FilterType::Triangle)
}

fn chips() -> Vec<RgbImage> {
    vec![
        face_chip("grace_hopper.jpg", 150, 60, 260),
        face_chip("obama.jpg", 250, 150, 450),
        face_chip("obama2.jpg", 100, 200, 420),
        face_chip("biden.jpg", 200, 400, 600),
    ]
}

fn jpeg_roundtrip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .expect("encode");
    image::load_from_memory(&buf).expect("decode").to_rgb8()
}

#[test]
fn chip_hash_is_stable_under_reposting_edits() {
    for (i, chip) in chips().iter().enumerate() {
        let h = chip_hash(chip).expect("chip has contrast");
        assert_eq!(h.hash.count_ones(), 128, "median split");

        let reencoded = chip_hash(&jpeg_roundtrip(chip, 40)).expect("hashable");
        assert!(
            reencoded.hash.distance(&h.hash) <= 16,
            "chip {i}: JPEG moved {}",
            reencoded.hash.distance(&h.hash)
        );

        let brighter = RgbImage::from_fn(150, 150, |x, y| {
            Rgb(chip
                .get_pixel(x, y)
                .0
                .map(|v| (f32::from(v) * 0.8 + 30.0) as u8))
        });
        let d = chip_hash(&brighter)
            .expect("hashable")
            .hash
            .distance(&h.hash);
        assert!(d <= 8, "chip {i}: brightness moved {d}");

        // A border outside the hashed region (columns 8..=139, rows
        // 9..=140) changes nothing.
        let mut framed = chip.clone();
        for (x, y, p) in framed.enumerate_pixels_mut() {
            if x < 8 || y < 9 || x >= 140 || y >= 141 {
                *p = Rgb([255, 255, 255]);
            }
        }
        assert_eq!(
            chip_hash(&framed).expect("hashable").hash,
            h.hash,
            "chip {i}: border"
        );

        let shifted = RgbImage::from_fn(150, 150, |x, y| *chip.get_pixel((x + 1).min(149), y));
        let d = chip_hash(&shifted)
            .expect("hashable")
            .hash
            .distance(&h.hash);
        assert!(d <= CHIP_SAME_FACE, "chip {i}: 1 px shift moved {d}");

        // The aligned chip of a mirrored photo is the chip mirrored about
        // the template's axis (column 73.5), i.e. x -> 147 - x.
        let about_axis = RgbImage::from_fn(150, 150, |x, y| {
            *chip.get_pixel(147u32.saturating_sub(x), y)
        });
        let mirrored = chip_hash(&about_axis).expect("hashable");
        assert!(
            mirrored.hash.distance(&h.mirrored) <= 2,
            "chip {i}: mirrored twin"
        );
        assert!(
            mirrored.hash.distance(&h.hash) > 64,
            "chip {i}: mirror is not the same crop"
        );
    }
}

#[test]
fn chip_hash_tells_different_faces_apart() {
    let hashes: Vec<Hash256> = chips()
        .iter()
        .map(|c| chip_hash(c).expect("hashable").hash)
        .collect();
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            let d = hashes[i].distance(&hashes[j]);
            assert!(d > 80, "chips {i} and {j} are only {d} apart");
        }
    }
}

#[test]
fn chip_hash_guards_size_and_contrast() {
    match chip_hash(&RgbImage::new(149, 150)) {
        Err(HashError::ChipSize {
            width: 149,
            height: 150,
            expected: 150,
        }) => {}
        other => panic!("expected ChipSize, got {other:?}"),
    }
    match chip_hash(&RgbImage::from_pixel(150, 150, Rgb([250, 250, 250]))) {
        Err(HashError::ChipLowContrast { contrast, min }) => {
            assert!(contrast < min && min == CHIP_MIN_CONTRAST);
        }
        other => panic!("expected ChipLowContrast, got {other:?}"),
    }
    // Busy pixels outside the hashed region do not rescue a blank one.
    let busy_edges = RgbImage::from_fn(150, 150, |x, y| {
        if (8..140).contains(&x) && (9..141).contains(&y) {
            Rgb([90, 90, 90])
        } else {
            Rgb([((x * 37 + y * 11) % 256) as u8, 0, 255])
        }
    });
    assert!(matches!(
        chip_hash(&busy_edges),
        Err(HashError::ChipLowContrast { .. })
    ));
}

// ---- HammingIndex ----------------------------------------------------------
// Every query is checked against a naive scan over a plain list kept by the
// test, so the index is never its own reference.

fn naive(entries: &[(u64, Hash256)], q: &Hash256, radius: u32) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = entries
        .iter()
        .map(|(id, h)| (*id, h.distance(q)))
        .filter(|&(_, d)| d <= radius)
        .collect();
    out.sort_unstable_by_key(|&(id, d)| (d, id));
    out
}

const RADII: [u32; 12] = [0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 80];

fn assert_agrees(
    index: &HammingIndex,
    entries: &[(u64, Hash256)],
    queries: &[Hash256],
    label: &str,
) {
    for (qi, q) in queries.iter().enumerate() {
        for r in RADII {
            let want = naive(entries, q, r);
            assert_eq!(index.query(q, r), want, "{label}: query {qi} radius {r}");
        }
    }
}

/// Large enough that the index uses its tables, small enough to stay fast.
const N: u64 = 20_000;

#[test]
fn index_agrees_with_brute_force_on_random_hashes() {
    let mut rng = Rng(2);
    let entries: Vec<(u64, Hash256)> = (0..N).map(|i| (i * 3 + 7, rng.hash())).collect();
    let index = HammingIndex::from_entries(HashKind::Pdq, entries.clone()).expect("unique ids");
    assert_eq!(index.len(), N as usize);
    let mut queries: Vec<Hash256> = (0..40)
        .map(|k| {
            let base = entries[rng.below(N) as usize].1;
            flip_bits(&mut rng, base, k)
        })
        .collect();
    queries.push(rng.hash());
    assert_agrees(&index, &entries, &queries, "random");
    // The queries near stored hashes must actually find them.
    assert!(!index.query(&queries[20], 31).is_empty());
}

#[test]
fn index_agrees_with_brute_force_on_adversarial_sets() {
    let mut rng = Rng(3);
    let q = rng.hash();
    let mut entries: Vec<(u64, Hash256)> = Vec::new();
    let mut id = 0u64;
    let mut push = |h: Hash256, entries: &mut Vec<(u64, Hash256)>| {
        entries.push((id, h));
        id += 1;
    };
    // Hashes exactly at the pigeonhole limit: bits spread so that only one
    // chunk is within radius / 16 of the query.
    for r in [15u32, 16, 17, 31, 32, 33, 47, 48] {
        for _ in 0..20 {
            let mut h = q;
            let per_chunk = r / 16;
            let extra = (r % 16) as usize;
            let mut chunks: Vec<usize> = (0..16).collect();
            for i in (1..16).rev() {
                chunks.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for (rank, &c) in chunks.iter().enumerate() {
                let bits = per_chunk as usize + usize::from(rank < extra);
                let mut chosen = Vec::new();
                while chosen.len() < bits {
                    let b = rng.below(16) as usize;
                    if !chosen.contains(&b) {
                        chosen.push(b);
                    }
                }
                for b in chosen {
                    let k = c * 16 + b;
                    h.0[k / 64] ^= 1 << (k % 64);
                }
            }
            assert_eq!(h.distance(&q), r);
            push(h, &mut entries);
        }
    }
    // Hashes at exactly distance r and r + 1, random bits.
    for r in [0u32, 1, 31, 32, 47] {
        for _ in 0..10 {
            let h = flip_bits(&mut rng, q, r);
            push(h, &mut entries);
            let h = flip_bits(&mut rng, q, r + 1);
            push(h, &mut entries);
        }
    }
    // Many hashes sharing 15 of 16 chunks with the query (one huge bucket per table).
    for _ in 0..6_000 {
        let mut h = q;
        let c = rng.below(16) as usize;
        let mask = (rng.next() & 0xffff) << ((c % 4) * 16);
        h.0[c / 4] ^= mask;
        push(h, &mut entries);
    }
    // Duplicated hashes, all-zero and all-one, and their near neighbours.
    for _ in 0..50 {
        push(q, &mut entries);
        push(Hash256::ZERO, &mut entries);
        push(Hash256::ONES, &mut entries);
    }
    for k in 0..40 {
        let h = flip_bits(&mut rng, Hash256::ZERO, k);
        push(h, &mut entries);
        let h = flip_bits(&mut rng, Hash256::ONES, k);
        push(h, &mut entries);
    }
    // Random filler so that the tables are in use.
    while entries.len() < N as usize {
        let h = rng.hash();
        push(h, &mut entries);
    }
    let index = HammingIndex::from_entries(HashKind::Pdq, entries.clone()).expect("unique ids");
    let queries = [q, Hash256::ZERO, Hash256::ONES, flip_bits(&mut rng, q, 8)];
    assert_agrees(&index, &entries, &queries, "adversarial");
    assert_eq!(index.query(&Hash256::ZERO, 256).len(), entries.len());
}

#[test]
fn index_stays_exact_through_deletes_and_re_adds() {
    let mut rng = Rng(4);
    let mut entries: Vec<(u64, Hash256)> = (0..N).map(|i| (i, rng.hash())).collect();
    let mut index = HammingIndex::new(HashKind::Chip);
    for (id, h) in &entries {
        index.add(*id, *h).expect("unique");
    }
    let anchors: Vec<Hash256> = (0..10).map(|_| entries[rng.below(N) as usize].1).collect();
    let queries: Vec<Hash256> = anchors
        .iter()
        .map(|h| flip_bits(&mut rng, *h, 12))
        .collect();

    // Delete two thirds, in random order.
    let mut removed = Vec::new();
    entries.retain(|&(id, h)| {
        if id % 3 != 0 {
            removed.push((id, h));
            false
        } else {
            true
        }
    });
    for i in (1..removed.len()).rev() {
        removed.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for (id, h) in &removed {
        assert_eq!(index.remove(*id), Some(*h));
    }
    assert_eq!(index.remove(removed[0].0), None, "second delete is a no-op");
    assert_eq!(index.len(), entries.len());
    assert_agrees(&index, &entries, &queries, "after deletes");

    // Re-add half of the deleted ids: some with their old hash, some with a new one.
    for (k, (id, h)) in removed.iter().take(removed.len() / 2).enumerate() {
        let h = if k % 2 == 0 { *h } else { rng.hash() };
        index.add(*id, h).expect("id was removed");
        entries.push((*id, h));
    }
    assert_agrees(&index, &entries, &queries, "after re-adds");
    assert_eq!(index.get(entries[0].0), Some(entries[0].1));

    match index.add(entries[0].0, Hash256::ZERO) {
        Err(HashError::DuplicateId { id }) => assert_eq!(id, entries[0].0),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
}

#[test]
fn small_index_is_exact_too() {
    let mut rng = Rng(5);
    let entries: Vec<(u64, Hash256)> = (0..300).map(|i| (i, rng.hash())).collect();
    let mut index = HammingIndex::new(HashKind::Pdq);
    for (id, h) in &entries {
        index.add(*id, *h).expect("unique");
    }
    let queries: Vec<Hash256> = (0..5)
        .map(|k| flip_bits(&mut rng, entries[k * 7].1, 20))
        .collect();
    assert_agrees(&index, &entries, &queries, "small");
    assert!(HammingIndex::from_entries(
        HashKind::Pdq,
        vec![(1, Hash256::ZERO), (1, Hash256::ONES)]
    )
    .is_err());
}

// ---- HammingIndex persistence ---------------------------------------------

fn saved(index: &HammingIndex) -> Vec<u8> {
    let mut file = Vec::new();
    index.save(&mut file).expect("write to memory");
    file
}

#[test]
fn index_round_trips_through_its_file_format() {
    let mut rng = Rng(6);
    let entries: Vec<(u64, Hash256)> = (0..N).map(|i| (u64::MAX - i, rng.hash())).collect();
    let mut index = HammingIndex::from_entries(HashKind::Chip, entries.clone()).expect("unique");
    index.remove(entries[5].0);
    let live: Vec<(u64, Hash256)> = entries
        .iter()
        .copied()
        .filter(|e| e.0 != entries[5].0)
        .collect();
    let file = saved(&index);
    assert_eq!(file.len(), 24 + 40 * live.len() + 4);
    assert_eq!(&file[..8], b"HWHAMIDX");
    let loaded = HammingIndex::load(file.as_slice()).expect("own file loads");
    assert_eq!(loaded.kind(), HashKind::Chip);
    assert_eq!(loaded.len(), live.len());
    let queries: Vec<Hash256> = (0..5)
        .map(|k| flip_bits(&mut rng, live[k * 100].1, 25))
        .collect();
    assert_agrees(&loaded, &live, &queries, "loaded");

    let empty = HammingIndex::load(saved(&HammingIndex::new(HashKind::Pdq)).as_slice())
        .expect("empty loads");
    assert!(empty.is_empty());
}

#[test]
fn index_load_refuses_foreign_old_and_corrupt_files() {
    let mut index = HammingIndex::new(HashKind::Pdq);
    for i in 0..50u64 {
        index
            .add(i, Hash256([i, i * 3, !i, i << 7]))
            .expect("unique");
    }
    let good = saved(&index);

    let png = std::fs::read(repo_root().join("fixtures/astronaut.png")).expect("fixture");
    assert!(matches!(
        HammingIndex::load(png.as_slice()),
        Err(HashError::BadMagic { .. })
    ));
    assert!(matches!(
        HammingIndex::load(&b""[..]),
        Err(HashError::BadMagic { .. })
    ));

    for version in [0u32, INDEX_FORMAT_VERSION + 1, u32::MAX] {
        let mut file = good.clone();
        file[8..12].copy_from_slice(&version.to_le_bytes());
        match HammingIndex::load(file.as_slice()) {
            Err(HashError::UnsupportedVersion { found, current, .. }) => {
                assert_eq!((found, current), (version, INDEX_FORMAT_VERSION));
            }
            other => panic!("version {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }

    let mut flipped = good.clone();
    flipped[24 + 40 * 10 + 9] ^= 0x10;
    assert!(matches!(
        HammingIndex::load(flipped.as_slice()),
        Err(HashError::ChecksumMismatch { .. })
    ));

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(
        HammingIndex::load(bad_crc.as_slice()),
        Err(HashError::ChecksumMismatch { .. })
    ));

    for cut in [10, 24, 24 + 40 * 3 + 5, good.len() - 2] {
        assert!(
            matches!(
                HammingIndex::load(&good[..cut]),
                Err(HashError::Malformed { .. }) | Err(HashError::BadMagic { .. })
            ),
            "cut at {cut}"
        );
    }

    // A huge entry count in a corrupt header fails as truncated, without
    // trying to allocate for it.
    let mut huge = good.clone();
    huge[16..24].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(matches!(
        HammingIndex::load(huge.as_slice()),
        Err(HashError::Malformed { .. })
    ));

    let mut kind = good;
    kind[12] = 9;
    assert!(matches!(
        HammingIndex::load(kind.as_slice()),
        Err(HashError::Malformed { .. })
    ));
}

/// Detects the largest face and cuts its aligned chip, as `homeward hash` does.
fn aligned_chip(img: &RgbImage) -> RgbImage {
    use homeward_core::faces::{DetectOptions, Detector, ShapePredictor, CHIP_PADDING, CHIP_SIZE};
    let detector = Detector::bundled().expect("bundled detector");
    let predictor = ShapePredictor::bundled().expect("bundled landmarks");
    let options = DetectOptions {
        upsample: 0,
        max_pixels: 2_000_000,
    };
    let face = detector
        .detect(img, &options)
        .into_iter()
        .max_by_key(|d| d.rect.width() * d.rect.height())
        .expect("a face");
    let landmarks = predictor.predict(img, face.rect).rounded();
    homeward_core::faces::face_chip(img, &landmarks, CHIP_SIZE, CHIP_PADDING)
        .expect("chip")
        .image
}

#[test]
fn mirrored_photo_matches_the_mirrored_twin_better_than_a_flipped_chip() {
    // Through the real pipeline: the chip of the mirrored photo sits 2 px off
    // `flip_horizontal(chip)`, and the twin is built for that.
    let photo = load_rgb(&repo_root().join("fixtures/grace_hopper.jpg"));
    let chip = aligned_chip(&photo);
    let h = chip_hash(&chip).expect("hashable");
    let from_mirror = chip_hash(&aligned_chip(&imageops::flip_horizontal(&photo)))
        .expect("hashable")
        .hash;
    let to_twin = from_mirror.distance(&h.mirrored);
    let to_flipped = from_mirror.distance(
        &chip_hash(&imageops::flip_horizontal(&chip))
            .expect("hashable")
            .hash,
    );
    assert!(
        to_twin <= CHIP_SAME_FACE / 2,
        "mirrored photo is {to_twin} bits from the twin"
    );
    assert!(
        to_twin < to_flipped,
        "twin {to_twin}, flipped chip {to_flipped}"
    );
    assert!(
        from_mirror.distance(&h.hash) > 64,
        "a mirror is not the same crop"
    );
}
