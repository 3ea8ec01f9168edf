//! Detection time per photo of YuNet against dlib's MMOD detector, in one run:
//!
//! ```text
//! cargo bench -p homeward-core --bench yunet
//! ```
//!
//! Both detectors run on the same ten fixture photos, decoded by Homeward's
//! intake: MMOD as the product runs it (`DetectOptions::default()`: one
//! upsampling), and MMOD at upsample 0; YuNet with its defaults (longest side
//! scaled to 640, letterbox, decode and NMS included). Each row is the median
//! over `HOMEWARD_BENCH_REPEATS` (default 5) runs of the wall time and the
//! process CPU time per photo, and its ratio to MMOD in the same run. Compare
//! the ratios: absolute times move with the machine's load.
//! `HOMEWARD_BENCH_THREADS` sets the rayon pool (default: all cores).

use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::faces::{DetectOptions, Detector};
use homeward_core::intake;
use homeward_core::yunet::{YuNet, YuNetOptions};
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

/// Median (wall, CPU) milliseconds per photo of `f`, which handles `n` photos.
fn time(repeats: usize, n: usize, mut f: impl FnMut() -> usize) -> (f64, f64, usize) {
    let faces = f(); // warm-up: first-use allocations and caches
    let mut wall = vec![];
    let mut cpu = vec![];
    for _ in 0..repeats {
        let (w0, c0) = (Instant::now(), cpu_seconds());
        f();
        wall.push(w0.elapsed().as_secs_f64() * 1e3 / n as f64);
        cpu.push((cpu_seconds() - c0) * 1e3 / n as f64);
    }
    (median(wall), median(cpu), faces)
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
    let repeats = env_usize("HOMEWARD_BENCH_REPEATS", 5);
    let mmod = Detector::bundled().expect("dlib detector");
    let yunet = YuNet::bundled().expect("YuNet model");
    let files = [
        "astronaut.png",
        "biden.jpg",
        "biden_gray.jpg",
        "grace_hopper.jpg",
        "grace_hopper_exif6.jpg",
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "obama_partial_face.jpg",
        "obama_rot15.png",
    ];
    let photos: Vec<RgbImage> = files
        .iter()
        .map(|f| {
            intake::load_path(&repo().join("fixtures").join(f), &Default::default())
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .image
        })
        .collect();
    let n = photos.len();
    let megapixels: f64 = photos
        .iter()
        .map(|p| f64::from(p.width()) * f64::from(p.height()) / 1e6)
        .sum::<f64>()
        / n as f64;

    let up1 = DetectOptions::default();
    let up0 = DetectOptions { upsample: 0, ..up1 };
    let yopts = YuNetOptions::default();
    let mmod1 = time(repeats, n, || {
        photos.iter().map(|p| mmod.detect(p, &up1).len()).sum()
    });
    let mmod0 = time(repeats, n, || {
        photos.iter().map(|p| mmod.detect(p, &up0).len()).sum()
    });
    let yu = time(repeats, n, || {
        photos
            .iter()
            .map(|p| yunet.detect(p, &yopts).expect("YuNet runs").len())
            .sum()
    });
    println!(
        "{n} fixture photos, {megapixels:.2} Mpx on average; median of {repeats} runs, ms per photo"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>6} {:>12} {:>12}",
        "detector", "wall", "CPU", "faces", "wall/MMOD-1", "CPU/MMOD-1"
    );
    for (name, (wall, cpu, faces)) in [
        ("MMOD, upsample 1 (default)", mmod1),
        ("MMOD, upsample 0", mmod0),
        ("YuNet, 640 (default)", yu),
    ] {
        println!(
            "{name:<28} {wall:>9.2} {cpu:>9.2} {faces:>6} {:>12.3} {:>12.3}",
            wall / mmod1.0,
            cpu / mmod1.1
        );
    }
    println!(
        "YuNet multiply-adds at 640×640: {:.3} G",
        yunet.multiply_adds(640, 640) as f64 / 1e9
    );
}
