//! HNSW benchmark: build time, memory per vector, snapshot load time and
//! QPS at recall@10 targets for Homeward's index, side by side with Python
//! hnswlib (and, for reference, the hnsw_rs crate the index used before) on
//! the same vectors and parameters in the same run.
//!
//! ```text
//! cargo bench -p homeward-core --bench hnsw -- --n 100000 [--queries 1000]
//!     [--reps 3] [--efs 10,16,...] [--no-python] [--no-hnsw-rs]
//! ```
//!
//! Vectors are the synthetic face-like embeddings of `tests/support/synth.rs`:
//! identity centres drawn around a shared mean with per-dimension scales
//! decaying as exp(−j/48), each identity with 1–5 photos scattered around
//! its centre (same-person distance ≈ 0.42, different ≈ 0.9, as dlib's).
//! Queries are fresh photos of random known identities. Search is
//! single-threaded on every side; QPS is the median of `--reps` sweeps,
//! counted both per second of the searching thread's CPU time (the figure
//! compared: stable on a shared machine) and per wall-clock second. Build
//! time is given as wall time and as process CPU time.
//! Files are written under `target/hnsw-bench/` for `benches/hnswlib_compare.py`.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::index::{l2, FaceIndex, FaceMeta, HnswParams};
use homeward_core::store::{CaseStatus, Sex};
use rayon::prelude::*;

/// Default search widths swept (`--efs 256,512,1024` to choose others).
const EFS: &[usize] = &[10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn efs() -> Vec<usize> {
    arg("--efs")
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| EFS.to_vec())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn cpu_clock(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU seconds used by this thread.
fn thread_cpu() -> f64 {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds used by this process (all threads).
fn process_cpu() -> f64 {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn write_f32(path: &Path, rows: &[[f32; 128]]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes())?;
        }
    }
    f.flush()
}

#[derive(Debug, Clone, Copy)]
struct Point {
    ef: usize,
    recall: f64,
    /// Queries per second of search-thread CPU time.
    qps: f64,
    /// Queries per wall-clock second.
    wall_qps: f64,
}

/// The fastest point of a sweep reaching `target` (recall rises with ef, but
/// noise can make a wider ef faster, so take the best qualifying point).
fn best_at(sweep: &[Point], target: f64) -> Option<Point> {
    sweep
        .iter()
        .filter(|p| p.recall >= target)
        .copied()
        .max_by(|a, b| a.qps.total_cmp(&b.qps))
}

fn show_point(p: Option<Point>) -> String {
    p.map_or("not reached".into(), |p| {
        format!("{:.0} (ef {}, r {:.4})", p.qps, p.ef, p.recall)
    })
}

/// Recall@10 and median QPS of `search` for each ef.
fn sweep(
    queries: &[[f32; 128]],
    gt: &[Vec<u64>],
    reps: usize,
    search: &dyn Fn(&[f32; 128], usize) -> Vec<u64>,
) -> Vec<Point> {
    efs()
        .into_iter()
        .map(|ef| {
            let (mut cpu, mut wall) = (Vec::new(), Vec::new());
            let mut res: Vec<Vec<u64>> = Vec::new();
            for _ in 0..reps.max(1) {
                let (t, c) = (Instant::now(), thread_cpu());
                res = queries.iter().map(|q| search(q, ef)).collect();
                cpu.push(thread_cpu() - c);
                wall.push(t.elapsed().as_secs_f64());
            }
            cpu.sort_by(f64::total_cmp);
            wall.sort_by(f64::total_cmp);
            let hit: usize = res
                .iter()
                .zip(gt)
                .map(|(r, g)| r.iter().filter(|id| g.contains(id)).count())
                .sum();
            Point {
                ef,
                recall: hit as f64 / (10 * queries.len()) as f64,
                qps: queries.len() as f64 / cpu[cpu.len() / 2],
                wall_qps: queries.len() as f64 / wall[wall.len() / 2],
            }
        })
        .collect()
}

/// One backend's results.
#[derive(Default)]
struct Side {
    build_s: Option<f64>,
    build_cpu_s: Option<f64>,
    bytes_per_vector: Option<f64>,
    load_s: Option<f64>,
    sweep: Vec<Point>,
}

/// The hnsw_rs crate, as Homeward used it before its own graph (reference only).
mod hnsw_rs_side {
    use super::*;
    use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo, ReloadOptions};

    #[derive(Default, Clone, Copy)]
    pub struct L2;
    impl Distance<f32> for L2 {
        fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
            l2(a, b)
        }
    }

    pub fn run(
        vecs: &[[f32; 128]],
        queries: &[[f32; 128]],
        gt: &[Vec<u64>],
        reps: usize,
        params: HnswParams,
        dir: &Path,
    ) -> Side {
        let before = rss();
        let (t, c) = (Instant::now(), process_cpu());
        let g: Hnsw<f32, L2> = Hnsw::new(params.m, vecs.len(), 16, params.ef_construction, L2);
        let batch: Vec<(&[f32], usize)> =
            vecs.iter().enumerate().map(|(i, v)| (&v[..], i)).collect();
        g.parallel_insert_slice(&batch);
        let build_s = t.elapsed().as_secs_f64();
        let build_cpu_s = process_cpu() - c;
        let bpv = rss().saturating_sub(before) as f64 / vecs.len() as f64;
        let search = |q: &[f32; 128], ef: usize| -> Vec<u64> {
            g.search(q, 10, ef.max(10))
                .iter()
                .map(|n| n.d_id as u64)
                .collect()
        };
        let sweep = super::sweep(queries, gt, reps, &search);
        let _ = std::fs::remove_dir_all(dir);
        let load_s = std::fs::create_dir_all(dir)
            .ok()
            .and_then(|_| g.file_dump(dir, "b").ok())
            .map(|name| {
                let t = Instant::now();
                let mut io =
                    HnswIo::new_with_options(dir, &name, ReloadOptions::default().set_mmap(true));
                let loaded = io.load_hnsw::<f32, L2>().map(|h| h.get_nb_point());
                let s = t.elapsed().as_secs_f64();
                assert_eq!(loaded.ok(), Some(vecs.len()));
                s
            });
        let _ = std::fs::remove_dir_all(dir);
        Side {
            build_s: Some(build_s),
            build_cpu_s: Some(build_cpu_s),
            bytes_per_vector: Some(bpv),
            load_s,
            sweep,
        }
    }
}

fn search(index: &FaceIndex) -> impl Fn(&[f32; 128], usize) -> Vec<u64> + '_ {
    move |q, ef| {
        index
            .graph()
            .search_ef(q, 10, ef, None)
            .iter()
            .map(|h| h.id)
            .collect()
    }
}

fn main() {
    if flag("--list") {
        return;
    }
    let n: usize = arg("--n").and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let nq: usize = arg("--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let reps: usize = arg("--reps").and_then(|s| s.parse().ok()).unwrap_or(3);
    let params = HnswParams {
        m: 16,
        ef_construction: 200,
        ef_search: 64,
    };
    let out: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/hnsw-bench");
    std::fs::create_dir_all(&out).expect("create target/hnsw-bench");
    println!(
        "hnsw bench: n = {n}, queries = {nq}, reps = {reps}, M = {}, ef_construction = {}, build threads = {}",
        params.m,
        params.ef_construction,
        rayon::current_num_threads()
    );

    // Data: identities with 1..=5 photos until n vectors.
    let t = Instant::now();
    let (centres, mut vecs, _) = synth::dataset(42, n / 3 + 16, 5);
    while vecs.len() < n {
        let extra = synth::dataset(43 + vecs.len() as u64, 1000, 5).1;
        vecs.extend(extra);
    }
    vecs.truncate(n);
    let queries = synth::queries(7, &centres, nq);
    let gt: Vec<Vec<u64>> = queries
        .par_iter()
        .map(|q| {
            let mut d: Vec<(f32, u64)> = vecs
                .iter()
                .enumerate()
                .map(|(i, v)| (l2(q, v), i as u64))
                .collect();
            d.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
            d.truncate(10);
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Not `into_iter`: collecting in place would keep each n-long buffer alive.
            d.iter().map(|x| x.1).collect()
        })
        .collect();
    println!(
        "data + exact ground truth: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let base_p = out.join(format!("base_{n}.f32"));
    let q_p = out.join(format!("queries_{n}.f32"));
    let gt_p = out.join(format!("gt_{n}.u64"));
    write_f32(&base_p, &vecs).expect("write vectors");
    write_f32(&q_p, &queries).expect("write queries");
    let gt_bytes: Vec<u8> = gt.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&gt_p, gt_bytes).expect("write ground truth");

    // ---- Homeward's index, as the registry holds it (FaceIndex) ----
    let meta = FaceMeta {
        case_id: 0,
        sex: Sex::Unknown,
        birth_year: None,
        location: None,
        status: CaseStatus::Searching,
    };
    let items: Vec<(u64, [f32; 128], FaceMeta)> = vecs
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, *v, meta))
        .collect();
    let before = rss();
    let (t, c) = (Instant::now(), process_cpu());
    let mut index = FaceIndex::new(params);
    index.insert_batch(&items).expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let build_cpu_s = process_cpu() - c;
    let per_vec = rss().saturating_sub(before) as f64 / n as f64;
    let graph_bytes = index.graph().memory_bytes() as f64 / n as f64;
    drop(items);
    println!("homeward build: {build_s:.1} s");
    let ours_sweep = sweep(&queries, &gt, reps, &search(&index));

    let snap = out.join(format!("snapshot_{n}"));
    let _ = std::fs::remove_dir_all(&snap);
    let t = Instant::now();
    index.save(&snap, 0).expect("save");
    let save_s = t.elapsed().as_secs_f64();
    drop(index);
    let metas: Vec<(u64, FaceMeta)> = (0..n as u64).map(|i| (i, meta)).collect();
    let mut loads = Vec::new();
    let mut loaded = None;
    for _ in 0..3 {
        drop(loaded.take()); // free the previous copy before timing the next load
        let m = metas.clone();
        let t = Instant::now();
        let (l, _) = FaceIndex::load(&snap, 0, m).expect("load");
        loads.push(t.elapsed().as_secs_f64());
        loaded = Some(l);
    }
    loads.sort_by(f64::total_cmp);
    let load_s = loads[1];
    let loaded = loaded.expect("loaded");
    let loaded_sweep = sweep(&queries, &gt, 1, &search(&loaded));
    drop(loaded);
    let _ = std::fs::remove_dir_all(&snap);
    let ours = Side {
        build_s: Some(build_s),
        build_cpu_s: Some(build_cpu_s),
        bytes_per_vector: Some(per_vec),
        load_s: Some(load_s),
        sweep: ours_sweep,
    };

    // ---- hnsw_rs (reference) ----
    let rs = if flag("--no-hnsw-rs") {
        Side::default()
    } else {
        println!("hnsw_rs build ...");
        hnsw_rs_side::run(
            &vecs,
            &queries,
            &gt,
            reps,
            params,
            &out.join(format!("hnswrs_{n}")),
        )
    };

    // ---- hnswlib on the same files ----
    let py = if flag("--no-python") {
        None
    } else {
        println!("hnswlib build ...");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/hnswlib_compare.py");
        let efs: Vec<String> = efs().iter().map(|e| e.to_string()).collect();
        let res = std::process::Command::new("python3")
            .arg(script)
            .args(["--base", &base_p.to_string_lossy()])
            .args(["--queries", &q_p.to_string_lossy()])
            .args(["--gt", &gt_p.to_string_lossy()])
            .args(["--m", &params.m.to_string()])
            .args(["--efc", &params.ef_construction.to_string()])
            .args(["--threads", &rayon::current_num_threads().to_string()])
            .args(["--efs", &efs.join(",")])
            .args(["--reps", &reps.to_string()])
            .output();
        match res {
            Ok(o) if o.status.success() => {
                serde_json::from_slice::<serde_json::Value>(&o.stdout).ok()
            }
            Ok(o) => {
                eprintln!("hnswlib run failed: {}", String::from_utf8_lossy(&o.stderr));
                None
            }
            Err(e) => {
                eprintln!("could not run python3: {e}");
                None
            }
        }
    };
    let lib = py.as_ref().map_or_else(Side::default, |v| Side {
        build_s: v["build_s"].as_f64(),
        build_cpu_s: v["build_cpu_s"].as_f64(),
        bytes_per_vector: v["bytes_per_vector"].as_f64(),
        load_s: v["load_s"].as_f64(),
        sweep: v["sweep"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| Point {
                        ef: p["ef"].as_u64().unwrap_or(0) as usize,
                        recall: p["recall"].as_f64().unwrap_or(0.0),
                        qps: p["qps"].as_f64().unwrap_or(0.0),
                        wall_qps: p["wall_qps"].as_f64().unwrap_or(0.0),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    });

    // ---- report ----
    let num = |x: Option<f64>, unit: &str, prec: usize| {
        x.map_or("-".to_string(), |v| format!("{v:.prec$} {unit}"))
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    };
    println!();
    println!(
        "n = {n}, M = {}, ef_construction = {}",
        params.m, params.ef_construction
    );
    println!(
        "{:<24} {:>26} {:>26} {:>26} {:>10}",
        "", "homeward", "hnswlib (python)", "hnsw_rs 0.3.5", "hw/hnswlib"
    );
    let row = |name: &str, f: &dyn Fn(&Side) -> Option<f64>, unit: &str, prec: usize| {
        println!(
            "{:<24} {:>26} {:>26} {:>26} {:>10}",
            name,
            num(f(&ours), unit, prec),
            num(f(&lib), unit, prec),
            num(f(&rs), unit, prec),
            ratio(f(&ours), f(&lib))
        );
    };
    row("build (wall)", &|s| s.build_s, "s", 1);
    row("build (CPU, all threads)", &|s| s.build_cpu_s, "s", 1);
    row("memory per vector (RSS)", &|s| s.bytes_per_vector, "B", 0);
    row("snapshot load", &|s| s.load_s, "s", 3);
    for target in [0.95, 0.99] {
        let pick = |s: &Side| best_at(&s.sweep, target);
        println!(
            "{:<24} {:>26} {:>26} {:>26} {:>10}",
            format!("CPU QPS @ r@10 >= {target}"),
            show_point(pick(&ours)),
            show_point(pick(&lib)),
            show_point(pick(&rs)),
            ratio(pick(&ours).map(|p| p.qps), pick(&lib).map(|p| p.qps))
        );
    }
    println!(
        "homeward: graph tables {graph_bytes:.0} B/vector; snapshot save {save_s:.2} s; loads {:?} s",
        loads.iter().map(|s| (s * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    println!();
    println!("QPS per CPU-second of the search thread (wall-clock QPS in brackets)");
    println!(
        "{:>4} {:>7} {:>16} {:>8} | {:>7} {:>16} | {:>7} {:>16}",
        "ef", "hw r", "hw QPS", "hw r(L)", "lib r", "lib QPS", "rs r", "rs QPS"
    );
    let cell = |s: &Side, i: usize| {
        s.sweep.get(i).map_or(("-".into(), "-".into()), |p| {
            (
                format!("{:.4}", p.recall),
                format!("{:.0} ({:.0})", p.qps, p.wall_qps),
            )
        })
    };
    for (i, p) in ours.sweep.iter().enumerate() {
        let (hr, hq) = cell(&ours, i);
        let (lr, lq) = cell(&lib, i);
        let (rr, rq) = cell(&rs, i);
        println!(
            "{:>4} {:>7} {:>16} {:>8.4} | {:>7} {:>16} | {:>7} {:>16}",
            p.ef, hr, hq, loaded_sweep[i].recall, lr, lq, rr, rq
        );
    }
}
