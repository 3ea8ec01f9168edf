//! Face pipeline speed, side by side with dlib, in one run:
//!
//! ```text
//! cargo bench -p homeward-core --bench faces
//! ```
//!
//! Rows: ms per 150×150 chip embedding (one at a time and batched); ms per
//! megapixel of CNN detection (upsample 0); end-to-end photos per second
//! (decode, detect at upsample 1, landmarks, chips, embeddings) on
//! `fixtures/` and optionally LFW; peak RSS for a 20-megapixel photo. The
//! dlib column comes from `benches/dlib_bench.py` run by the Python named in
//! `HOMEWARD_DLIB_PYTHON` (Python dlib built with AVX and OpenBLAS, see
//! `benches/README.md`), the end-to-end one from the face_recognition package
//! with its CNN model. Figures are medians; compare the ratios, as absolute
//! times move with the machine's load.
//!
//! Environment:
//! - `HOMEWARD_DLIB_PYTHON`: Python with dlib (default `python3`); `none` skips dlib.
//! - `HOMEWARD_BENCH_THREADS`: threads for both sides (rayon pool here,
//!   `OPENBLAS_NUM_THREADS` there); default: all cores.
//! - `HOMEWARD_BENCH_REPEATS`: repetitions per timing (default 5).
//! - `HOMEWARD_LFW`: a folder of photos (e.g. `../shared/datasets/lfw-pairs`)
//!   for one more end-to-end row, first `HOMEWARD_LFW_LIMIT` (default 500).
//! - `HOMEWARD_BENCH_SKIP_RSS=1`: skip the 20-megapixel peak-memory row.
//! - `HOMEWARD_BENCH_ONLY=detect|e2e`: time only the detector or the
//!   end-to-end rows besides the embeddings (for profiling).
//! - `HOMEWARD_BENCH_LAYERS=1`: first time the ResNet's 3×3 stride-1 layer
//!   shapes alone with each convolution algorithm (im2col, Winograd F2, F4,
//!   direct),
//!   one chip and a batch of 18, in CPU time (no dlib side).
//! - `HOMEWARD_BENCH_OPS=1`: first break the whole ResNet's CPU time down by
//!   kind of operation (each convolution shape, pooling, `add_prev`, fc),
//!   one chip and a batch of 18.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use homeward_core::dlib::resnet::ResNet;
use homeward_core::dlib::ModelKind;
use homeward_core::faces::{DetectOptions, EmbedOptions, FaceEngine, FaceOptions};
use homeward_core::intake::{load_path, Limits};
use homeward_core::nn::{Conv2d, ConvAlgorithm, ConvParams, Epilogue, Tensor, WinogradTile};
use image::RgbImage;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time of this process so far (user + system, all threads), in seconds,
/// from the kernel's per-process clock: nanosecond resolution, where
/// `/proc/self/stat` counts 10 ms ticks (10% of a batch of 18 embeddings).
fn cpu_seconds() -> f64 {
    cpu_clock()
}

/// Median wall time and median CPU time of `f`, in seconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

impl std::ops::Div<f64> for Timing {
    type Output = Timing;
    fn div(self, d: f64) -> Timing {
        Timing {
            wall: self.wall / d,
            cpu: self.cpu / d,
        }
    }
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> Timing {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..repeats.max(1) {
        let (t, c) = (Instant::now(), cpu_seconds());
        std::hint::black_box(f());
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
    }
    Timing {
        wall: median(wall),
        cpu: median(cpu),
    }
}

/// CPU time of this process so far from the kernel's clock (ns resolution).
fn cpu_clock() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The ResNet's 3×3 stride-1 shapes (channels, side) with each algorithm:
/// CPU ms per sample and the direct multiply-adds per CPU second as a share
/// of one core's FMA peak.
fn layer_table(core_peak_gmacs: f64) {
    println!(
        "\n3x3 stride-1 layers alone, CPU ms per sample (share of per-core FMA peak, direct MACs)"
    );
    println!(
        "{:>18} {:>6} {:>16} {:>16} {:>16} {:>16}",
        "layer", "batch", "im2col", "winograd F2", "winograd F4", "direct 3x3"
    );
    let mut seed = 1u32;
    let mut random = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    };
    for (c, side) in [(32, 35), (64, 17), (128, 8), (256, 4), (256, 3)] {
        let p = ConvParams {
            in_channels: c,
            out_channels: c,
            kernel_h: 3,
            kernel_w: 3,
            stride_y: 1,
            stride_x: 1,
            pad_y: 1,
            pad_x: 1,
        };
        let conv = Conv2d::new(p, random(c * c * 9), random(c)).expect("layer");
        let macs = (c * c * 9 * side * side) as f64;
        for n in [1, 18] {
            let x = Tensor::from_vec(c, n, side, side, random(c * n * side * side)).expect("x");
            let mut cells = Vec::new();
            for algo in [
                ConvAlgorithm::Im2col,
                ConvAlgorithm::Winograd(WinogradTile::F2),
                ConvAlgorithm::Winograd(WinogradTile::F4),
                ConvAlgorithm::Direct,
            ] {
                let run = || conv.forward_batch_with(&x, Epilogue::default(), algo);
                run();
                // Enough calls for ~0.2 s of CPU per measurement.
                let c0 = cpu_clock();
                run();
                let once = (cpu_clock() - c0).max(1e-6);
                let calls = ((0.2 / once) as usize).clamp(1, 10_000);
                let mut best = f64::MAX;
                for _ in 0..3 {
                    let c0 = cpu_clock();
                    for _ in 0..calls {
                        std::hint::black_box(run());
                    }
                    best = best.min((cpu_clock() - c0) / (calls * n) as f64);
                }
                let share = 100.0 * macs / best / 1e9 / core_peak_gmacs;
                cells.push(format!("{:.3} ({share:.0}%)", best * 1e3));
            }
            println!(
                "{:>18} {n:>6} {:>16} {:>16} {:>16} {:>16}",
                format!("{c}->{c} {side}x{side}"),
                cells[0],
                cells[1],
                cells[2],
                cells[3]
            );
        }
    }
    println!();
}

/// Photos in a folder (recursively, sorted) or the file itself, as the Python side lists them.
/// The whole ResNet, CPU ms per chip spent in each kind of operation (summed
/// over its layers), one chip and the 18 golden chips as a batch.
fn op_table(repeats: usize, core_peak_gmacs: f64) {
    let net = ResNet::from_bytes(ModelKind::Embedder.bundled_bytes()).expect("model");
    let chip_dir = repo().join("fixtures/golden/chips");
    let chips: Vec<RgbImage> = photos_in(&chip_dir, 0).iter().map(|p| load(p)).collect();
    let refs: Vec<&RgbImage> = chips.iter().collect();
    let macs = net.multiply_adds() as f64;
    for batch in [&refs[..1], &refs[..]] {
        let n = batch.len() as f64;
        let mut sums: Vec<(String, Vec<f64>)> = Vec::new();
        net.profile_ops(batch, cpu_clock).expect("profile");
        for _ in 0..repeats.max(1) {
            for (label, t) in net.profile_ops(batch, cpu_clock).expect("profile") {
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
            "\nResNet per op, batch of {}: CPU ms per chip (median of {repeats}), total {total:.2} ms = {:.0}% of per-core FMA peak",
            batch.len(),
            100.0 * macs / (total * 1e-3) / 1e9 / core_peak_gmacs
        );
        for (label, ms) in rows {
            println!("{label:>48} {ms:>8.3} {:>5.1}%", 100.0 * ms / total);
        }
    }
}

fn photos_in(spec: &Path, limit: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![spec.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        {
            files.push(p);
        }
    }
    files.sort();
    if limit > 0 {
        files.truncate(limit);
    }
    files
}

fn load(path: &Path) -> RgbImage {
    // The bench measures the pipeline's own peak: the per-photo analysis
    // budget (2 GiB by default, which the 20 MP photo's estimate is over)
    // is lifted, the other limits kept.
    let limits = Limits {
        max_analysis_bytes: u64::MAX,
        ..Limits::default()
    };
    load_path(path, &limits)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .image
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The child process of the RSS row: analyse one photo at upsample 0, print peak RSS.
fn rss_child(path: &Path) {
    let engine = FaceEngine::bundled().expect("bundled models");
    let photo = load(path);
    let options = FaceOptions {
        detect: DetectOptions {
            upsample: 0,
            max_pixels: u64::MAX,
        },
        embed: EmbedOptions::default(),
    };
    let faces = engine.analyze(&photo, &options);
    println!(
        "{{\"faces\": {}, \"peak_rss_mb\": {}}}",
        faces.len(),
        peak_rss_mb().unwrap_or(f64::NAN)
    );
}

/// What the CPU can do: (FMA lanes of f32, GHz, description).
fn fma_peak() -> (f64, f64, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("")
        .to_string();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let lanes = if has("avx512f") {
        16.0
    } else if has("fma") && has("avx2") {
        8.0
    } else {
        4.0
    };
    let ghz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1000.0;
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    (lanes, ghz, model)
}

fn run_python(python: &str, threads: usize, args: &[String]) -> Option<Value> {
    if python == "none" {
        return None;
    }
    let script = repo().join("benches/dlib_bench.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "dlib side failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last()?).ok()
}

struct Row {
    what: String,
    ours: f64,
    theirs: Option<f64>,
    /// The same measure from CPU time (both sides), when it applies.
    ours_cpu: Option<f64>,
    theirs_cpu: Option<f64>,
    /// true when smaller is better (times, memory).
    lower_is_better: bool,
    note: String,
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<46} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9}  note",
        "measure (wall clock | CPU time)",
        "homeward",
        "dlib",
        "ratio",
        "hw cpu",
        "dlib cpu",
        "ratio"
    );
    let ratio = |ours: Option<f64>, theirs: Option<f64>, lower: bool| match (ours, theirs) {
        (Some(o), Some(t)) => format!("{:.2}x", if lower { t / o } else { o / t }),
        _ => "n/a".to_string(),
    };
    let num = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
    for r in rows {
        println!(
            "{:<46} {:>10.2} {:>10} {:>9} {:>10} {:>10} {:>9}  {}",
            r.what,
            r.ours,
            num(r.theirs),
            ratio(Some(r.ours), r.theirs, r.lower_is_better),
            num(r.ours_cpu),
            num(r.theirs_cpu),
            ratio(r.ours_cpu, r.theirs_cpu, r.lower_is_better),
            r.note
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        rss_child(Path::new(&args[i + 1]));
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = env_usize("HOMEWARD_BENCH_THREADS", cores);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("rayon pool");
    let repeats = env_usize("HOMEWARD_BENCH_REPEATS", 5);
    let python = std::env::var("HOMEWARD_DLIB_PYTHON").unwrap_or_else(|_| "python3".into());
    let lfw = std::env::var("HOMEWARD_LFW").ok().map(PathBuf::from);
    let lfw_limit = env_usize("HOMEWARD_LFW_LIMIT", 500);
    let engine = FaceEngine::bundled().expect("bundled models");
    let (lanes, ghz, model) = fma_peak();
    // Two FMA units per core: lanes × 2 multiply-adds per cycle.
    let peak_gmacs = 2.0 * lanes * ghz * threads as f64;
    println!("CPU: {model}, {ghz:.2} GHz, {lanes} f32 lanes per FMA, {threads} thread(s)");
    println!(
        "FMA peak for {threads} thread(s): {peak_gmacs:.0} G multiply-adds/s (2 FMA units x {lanes} lanes x {ghz:.2} GHz x {threads})"
    );

    if std::env::var("HOMEWARD_BENCH_LAYERS").as_deref() == Ok("1") {
        layer_table(peak_gmacs / threads as f64);
    }
    if std::env::var("HOMEWARD_BENCH_OPS").as_deref() == Ok("1") {
        op_table(repeats, peak_gmacs / threads as f64);
    }

    let mut rows = Vec::new();
    let mut py_args = vec![
        "--models".to_string(),
        repo().join("models").display().to_string(),
        "--repeats".to_string(),
        repeats.to_string(),
    ];

    // Embeddings of the golden chips.
    let chip_dir = repo().join("fixtures/golden/chips");
    let chips: Vec<RgbImage> = photos_in(&chip_dir, 0).iter().map(|p| load(p)).collect();
    let refs: Vec<&RgbImage> = chips.iter().collect();
    let opts = EmbedOptions::default();
    engine.embed_chip(&chips[0], &opts);
    let single = time(repeats, || {
        for c in &chips {
            engine.embed_chip(c, &opts);
        }
    }) / chips.len() as f64;
    let batched = time(repeats, || engine.embed_chips(&refs, &opts)) / chips.len() as f64;
    let embed_macs = engine.embedding_multiply_adds() as f64;
    py_args.extend(["--chips".to_string(), chip_dir.display().to_string()]);

    // Detection.
    let detect_files = ["astronaut.png", "obama.jpg"].map(|f| repo().join("fixtures").join(f));
    let detect_opts = DetectOptions {
        upsample: 0,
        ..DetectOptions::default()
    };
    let mut detect_rows = Vec::new();
    let only = std::env::var("HOMEWARD_BENCH_ONLY").unwrap_or_default();
    let skip = |what: &str| !only.is_empty() && only != what;
    for path in detect_files.iter().filter(|_| !skip("detect")) {
        let img = load(path);
        let mp = img.width() as f64 * img.height() as f64 / 1e6;
        engine.detector().detect(&img, &detect_opts);
        let t = time(repeats, || engine.detector().detect(&img, &detect_opts));
        let macs = engine.detector().multiply_adds(img.width(), img.height()) as f64;
        detect_rows.push((path.clone(), mp, t, macs));
    }
    py_args.push("--detect".to_string());
    py_args.extend(detect_files.iter().map(|p| p.display().to_string()));

    // End to end: fixtures/ (top level), then LFW if given.
    let analyze = FaceOptions::default();
    let fixtures = repo().join("fixtures");
    let mut e2e_rows = Vec::new();
    let mut specs = vec![(fixtures.clone(), true)];
    if let Some(l) = &lfw {
        specs.push((l.clone(), false));
    }
    for (spec, flat) in specs.into_iter().filter(|_| !skip("e2e")) {
        let files: Vec<PathBuf> = if flat {
            let mut f: Vec<PathBuf> = std::fs::read_dir(&spec)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            f.retain(|p| p.is_file() && photos_in(p, 0).len() == 1);
            f.sort();
            f
        } else {
            photos_in(&spec, lfw_limit)
        };
        let runs = if files.len() > 50 { 1 } else { repeats.min(3) };
        let mut faces = 0;
        let t = time(runs, || {
            faces = files
                .iter()
                .map(|f| engine.analyze(&load(f), &analyze).len())
                .sum::<usize>();
        });
        py_args.push(if flat { "--e2e-flat" } else { "--e2e" }.to_string());
        py_args.push(spec.display().to_string());
        e2e_rows.push((spec, files.len(), faces, t));
    }
    py_args.extend(["--limit".to_string(), lfw_limit.to_string()]);

    eprintln!("running the dlib side ({python}) ...");
    let dlib = run_python(&python, threads, &py_args);
    let get = |path: &[&str]| -> Option<f64> {
        let mut v = dlib.as_ref()?;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_f64()
    };
    if let Some(d) = &dlib {
        println!(
            "dlib {} (AVX {}, BLAS {}), OPENBLAS_NUM_THREADS={}",
            d["dlib_version"], d["dlib_avx"], d["dlib_blas"], d["openblas_threads"]
        );
    }

    let best = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // Per-core efficiency: multiply-adds per CPU second against one core's peak.
    let core_peak = peak_gmacs / threads as f64;
    let efficiency = |macs: f64, cpu: f64| 100.0 * macs / cpu / 1e9 / core_peak;
    rows.push(Row {
        what: "embedding, ms per chip, one at a time".into(),
        ours: single.wall * 1e3,
        theirs: get(&["embed_ms_per_chip"]),
        ours_cpu: Some(single.cpu * 1e3),
        theirs_cpu: get(&["embed_cpu_ms_per_chip"]),
        lower_is_better: true,
        note: format!(
            "{:.2} G MACs per face; {:.0}% of per-core FMA peak",
            embed_macs / 1e9,
            efficiency(embed_macs, single.cpu)
        ),
    });
    rows.push(Row {
        what: format!("embedding, ms per chip, batch of {}", chips.len()),
        ours: batched.wall * 1e3,
        theirs: best(
            get(&["embed_ms_per_chip"]),
            get(&["embed_batch_ms_per_chip"]),
        ),
        ours_cpu: Some(batched.cpu * 1e3),
        theirs_cpu: best(
            get(&["embed_cpu_ms_per_chip"]),
            get(&["embed_batch_cpu_ms_per_chip"]),
        ),
        lower_is_better: true,
        note: format!(
            "{:.0}% of per-core FMA peak; dlib: its better of single and batched",
            efficiency(embed_macs, batched.cpu)
        ),
    });
    for (path, mp, t, macs) in &detect_rows {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        rows.push(Row {
            what: format!("detection, ms per MP, {name} ({mp:.2} MP)"),
            ours: t.wall * 1e3 / mp,
            theirs: get(&["detect", &name, "ms_per_mp"]),
            ours_cpu: Some(t.cpu * 1e3 / mp),
            theirs_cpu: get(&["detect", &name, "cpu_ms_per_mp"]),
            lower_is_better: true,
            note: format!(
                "{:.1} G MACs per MP; {:.0}% of per-core FMA peak",
                macs / mp / 1e9,
                efficiency(*macs, t.cpu)
            ),
        });
    }
    for (spec, files, faces, t) in &e2e_rows {
        let key = spec.display().to_string();
        let label = spec
            .file_name()
            .map_or("?".into(), |n| n.to_string_lossy().to_string());
        rows.push(Row {
            what: format!("end to end, photos/s, {label} ({files} photos)"),
            ours: *files as f64 / t.wall,
            theirs: get(&["e2e", &key, "photos_per_s"]),
            ours_cpu: Some(*files as f64 / t.cpu),
            theirs_cpu: get(&["e2e", &key, "cpu_photos_per_s"]),
            lower_is_better: false,
            note: format!(
                "{faces} faces (dlib: {}); dlib column: face_recognition, model cnn, upsample 1",
                get(&["e2e", &key, "faces"]).map_or("n/a".into(), |f| f.to_string())
            ),
        });
    }

    if std::env::var("HOMEWARD_BENCH_SKIP_RSS").as_deref() != Ok("1") {
        let big = std::env::temp_dir().join("homeward-bench-20mp.png");
        if !big.exists() {
            let src = load(&repo().join("fixtures/astronaut.png"));
            let img =
                image::imageops::resize(&src, 5472, 3648, image::imageops::FilterType::Triangle);
            img.save(&big).expect("write the 20 MP photo");
        }
        let child = Command::new(std::env::current_exe().expect("own path"))
            .arg("--rss-child")
            .arg(&big)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .output()
            .expect("run the RSS child");
        // A failed child is the bench's failure, not a NaN in the table.
        assert!(
            child.status.success(),
            "the RSS child failed: {}",
            String::from_utf8_lossy(&child.stderr)
        );
        let ours = serde_json::from_slice::<Value>(&child.stdout)
            .ok()
            .and_then(|v| v["peak_rss_mb"].as_f64());
        let theirs = run_python(
            &python,
            threads,
            &[
                "--models".to_string(),
                repo().join("models").display().to_string(),
                "--rss".to_string(),
                big.display().to_string(),
            ],
        )
        .and_then(|v| v["peak_rss_mb"].as_f64());
        rows.push(Row {
            what: "peak RSS, MB, 20 MP photo, upsample 0".into(),
            ours: ours.unwrap_or(f64::NAN),
            theirs,
            ours_cpu: None,
            theirs_cpu: None,
            lower_is_better: true,
            note: "whole process: models, decoded photo, pipeline".into(),
        });
    }
    print_table(&rows);
}
