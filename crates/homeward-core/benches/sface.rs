//! Per-face embedding time of SFace against dlib's ResNet, in one run:
//!
//! ```text
//! cargo bench -p homeward-core --bench sface
//! ```
//!
//! Both models embed the same ten fixture faces, already aligned (dlib's
//! 150×150 chips from `fixtures/golden/chips`, SFace's 112×112 chips from
//! `fixtures/golden/sface/chips`), one face at a time and as one batch of
//! ten. Alignment is left out: both warps are well under a millisecond.
//! Each row is the median over `HOMEWARD_BENCH_REPEATS` (default 9) runs of
//! the wall time and the process CPU time per face; the fusion row is dlib
//! plus SFace. Compare the ratios: absolute times move with the machine's
//! load. `HOMEWARD_BENCH_THREADS` sets the rayon pool (default: all cores).
//!
//! `HOMEWARD_BENCH_BLOCKS=1` first breaks SFace's CPU time down by step
//! (each convolution block, steps of the same shape summed, the final batch
//! norm and linear layer), one face and the batch of ten, medians of the
//! repeats in CPU ms per face.

use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::faces::{EmbedOptions, FaceEngine};
use homeward_core::sface::SFace;
use image::RgbImage;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of this process (all threads), in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median (wall, CPU) milliseconds per face of `f`, which embeds `faces` faces.
fn time(repeats: usize, faces: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm-up: first-use allocations and caches
    let mut wall = vec![];
    let mut cpu = vec![];
    for _ in 0..repeats {
        let (w0, c0) = (Instant::now(), cpu_seconds());
        f();
        wall.push(w0.elapsed().as_secs_f64() * 1e3 / faces as f64);
        cpu.push((cpu_seconds() - c0) * 1e3 / faces as f64);
    }
    (median(wall), median(cpu))
}

/// SFace's CPU time per step (`SFace::profile_blocks`), medians of
/// `repeats` runs, ms per face.
fn block_table(sface: &SFace, chips: &[&RgbImage], repeats: usize) {
    for batch in [&chips[..1], chips] {
        let n = batch.len() as f64;
        sface.profile_blocks(batch, cpu_seconds).expect("112×112"); // warm-up
        let mut sums: Vec<(String, Vec<f64>)> = Vec::new();
        for _ in 0..repeats.max(1) {
            for (label, t) in sface.profile_blocks(batch, cpu_seconds).expect("112×112") {
                match sums.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, v)) => v.push(t),
                    None => sums.push((label, vec![t])),
                }
            }
        }
        let rows: Vec<(String, f64)> = sums
            .into_iter()
            .map(|(l, v)| (l, median(v) * 1e3 / n))
            .collect();
        let total: f64 = rows.iter().map(|r| r.1).sum();
        println!(
            "SFace per step, batch of {}: CPU ms per face (median of {repeats}), total {total:.2}",
            batch.len()
        );
        for (label, t) in rows {
            println!("  {label:<48} {t:>7.3}");
        }
    }
}

fn chips(dir: &str, names: &[String]) -> Vec<RgbImage> {
    names
        .iter()
        .map(|n| {
            let path = repo().join(dir).join(n);
            image::open(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .to_rgb8()
        })
        .collect()
}

fn main() {
    if let Some(n) = std::env::var("HOMEWARD_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let repeats = env_usize("HOMEWARD_BENCH_REPEATS", 9);
    let engine = FaceEngine::bundled().expect("dlib models");
    let sface = SFace::bundled().expect("SFace model");
    let stems = [
        "astronaut",
        "biden",
        "biden_gray",
        "grace_hopper",
        "grace_hopper_exif6",
        "obama",
        "obama2",
        "obama3",
        "obama_partial_face",
        "obama_rot15",
    ];
    let dlib_names: Vec<String> = stems.iter().map(|s| format!("{s}_up0_0.png")).collect();
    let sface_names: Vec<String> = stems.iter().map(|s| format!("{s}_0.png")).collect();
    let dlib_chips = chips("fixtures/golden/chips", &dlib_names);
    let sface_chips = chips("fixtures/golden/sface/chips", &sface_names);
    let n = stems.len();
    let options = EmbedOptions::default();
    if std::env::var("HOMEWARD_BENCH_BLOCKS").as_deref() == Ok("1") {
        let refs: Vec<&RgbImage> = sface_chips.iter().collect();
        block_table(&sface, &refs, repeats);
    }

    let dlib_one = time(repeats, n, || {
        for c in &dlib_chips {
            engine.embed_chip(c, &options).expect("150×150");
        }
    });
    let sface_one = time(repeats, n, || {
        for c in &sface_chips {
            sface.embed_chips(&[c]).expect("112×112");
        }
    });
    let dlib_refs: Vec<&RgbImage> = dlib_chips.iter().collect();
    let sface_refs: Vec<&RgbImage> = sface_chips.iter().collect();
    let dlib_batch = time(repeats, n, || {
        engine.embed_chips(&dlib_refs, &options).expect("150×150");
    });
    let sface_batch = time(repeats, n, || {
        sface.embed_chips(&sface_refs).expect("112×112");
    });

    println!(
        "threads {}, {repeats} repeats, {n} faces; ms per face, median (wall / CPU)",
        rayon::current_num_threads()
    );
    println!(
        "multiply-adds per face: dlib {:.3} G, SFace {:.3} G",
        engine.embedding_multiply_adds() as f64 * 1e-9,
        sface.multiply_adds() as f64 * 1e-9
    );
    println!(
        "{:<22} {:>17} {:>17} {:>17} {:>15}",
        "", "dlib", "SFace", "fusion", "SFace / dlib"
    );
    for (label, d, s) in [
        ("one face at a time", dlib_one, sface_one),
        ("batch of ten", dlib_batch, sface_batch),
    ] {
        println!(
            "{label:<22} {:>7.2} / {:>7.2} {:>7.2} / {:>7.2} {:>7.2} / {:>7.2} {:>6.2} / {:>6.2}",
            d.0,
            d.1,
            s.0,
            s.1,
            d.0 + s.0,
            d.1 + s.1,
            s.0 / d.0,
            s.1 / d.1
        );
    }
}
