//! HNSW benchmark: build time, memory per vector, snapshot load time and
//! QPS at recall@10 targets for Homeward's index, side by side with Python
//! hnswlib (and, for reference, the hnsw_rs crate the index used before) on
//! the same vectors and parameters in the same run.
//!
//! ```text
//! cargo bench -p homeward-core --bench hnsw -- --n 100000 [--queries 1000]
//!     [--reps 3] [--efs 10,16,...] [--m 16] [--efc 200] [--no-python] [--no-hnsw-rs]
//!     [--dim 128|512]
//! ```
//!
//! `--dim 512` runs the same measurement on 512-d synthetic vectors (an
//! ArcFace-sized model's index: the general distance kernel instead of the
//! 128-d one); the synthetic distances stay those of dlib.
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
//!
//! `--vectors FILE.jsonl [--m 16] [--efc 200] [--efs ...] [--queries 1000]`
//! instead measures filtered recall@10 on real embeddings against exact
//! brute force on the same filtered data (see [`real`]). FILE is the output
//! of `homeward embed --json DIR` (one photo per line, its faces with
//! `embedding`) or a cache of `{"path", "embedding"}` lines; the identity of
//! a vector is the name of its photo's directory (LFW's layout).

#[path = "../tests/support/synth.rs"]
mod synth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::index::{l2, FaceIndex, FaceMeta, HnswParams, DIM, DLIB_MODEL};
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

fn write_f32<const D: usize>(path: &Path, rows: &[[f32; D]]) -> std::io::Result<()> {
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
fn sweep<const D: usize>(
    queries: &[[f32; D]],
    gt: &[Vec<u64>],
    reps: usize,
    search: &dyn Fn(&[f32; D], usize) -> Vec<u64>,
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

    pub fn run<const D: usize>(
        vecs: &[[f32; D]],
        queries: &[[f32; D]],
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
        let search = |q: &[f32; D], ef: usize| -> Vec<u64> {
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

fn search<const D: usize>(index: &FaceIndex) -> impl Fn(&[f32; D], usize) -> Vec<u64> + '_ {
    move |q, ef| {
        index
            .graph()
            .search_ef(q, 10, ef, None)
            .expect("queries have the index's dimension")
            .iter()
            .map(|h| h.id)
            .collect()
    }
}

fn main() {
    if flag("--list") {
        return;
    }
    if let Some(path) = arg("--vectors") {
        real::run(Path::new(&path));
        return;
    }
    match arg("--dim").map_or(Ok(DIM), |s| s.parse::<usize>()) {
        Ok(DIM) => synthetic::<DIM>(),
        Ok(512) => synthetic::<512>(),
        other => eprintln!("--dim must be 128 or 512 (got {other:?})"),
    }
}

/// The synthetic measurement at dimension `D`.
fn synthetic<const D: usize>() {
    let n: usize = arg("--n").and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let nq: usize = arg("--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let reps: usize = arg("--reps").and_then(|s| s.parse().ok()).unwrap_or(3);
    let params = HnswParams {
        m: arg("--m").and_then(|s| s.parse().ok()).unwrap_or(16),
        ef_construction: arg("--efc").and_then(|s| s.parse().ok()).unwrap_or(200),
        ef_search: 64,
    };
    let out: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/hnsw-bench");
    std::fs::create_dir_all(&out).expect("create target/hnsw-bench");
    println!(
        "hnsw bench: n = {n}, dim = {D}, queries = {nq}, reps = {reps}, M = {}, ef_construction = {}, build threads = {}",
        params.m,
        params.ef_construction,
        rayon::current_num_threads()
    );

    // Data: identities with 1..=5 photos until n vectors.
    let t = Instant::now();
    let (centres, mut vecs, _) = synth::dataset_d::<D>(42, n / 3 + 16, 5);
    while vecs.len() < n {
        let extra = synth::dataset_d::<D>(43 + vecs.len() as u64, 1000, 5).1;
        vecs.extend(extra);
    }
    vecs.truncate(n);
    let queries = synth::queries_d::<D>(7, &centres, nq);
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
    // 128-d files keep their names (hnswlib runs on them separately).
    let suffix = if D == DIM {
        format!("{n}")
    } else {
        format!("{n}_d{D}")
    };
    let base_p = out.join(format!("base_{suffix}.f32"));
    let q_p = out.join(format!("queries_{suffix}.f32"));
    let gt_p = out.join(format!("gt_{suffix}.u64"));
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
    let items: Vec<(u64, [f32; D], FaceMeta)> = vecs
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, *v, meta))
        .collect();
    let before = rss();
    let (t, c) = (Instant::now(), process_cpu());
    let model = if D == DIM { DLIB_MODEL } else { "synthetic" };
    let mut index = FaceIndex::for_model(model, D, params).expect("a dimension an index holds");
    index.insert_batch(&items).expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let build_cpu_s = process_cpu() - c;
    let per_vec = rss().saturating_sub(before) as f64 / n as f64;
    let graph_bytes = index.graph().memory_bytes() as f64 / n as f64;
    drop(items);
    println!("homeward build: {build_s:.1} s");
    let ours_sweep = sweep(&queries, &gt, reps, &search::<D>(&index));

    let snap = out.join(format!("snapshot_{suffix}"));
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
        let (l, _) = FaceIndex::load_model(&snap, model, D, 0, m).expect("load");
        loads.push(t.elapsed().as_secs_f64());
        loaded = Some(l);
    }
    loads.sort_by(f64::total_cmp);
    let load_s = loads[1];
    let loaded = loaded.expect("loaded");
    let loaded_sweep = sweep(&queries, &gt, 1, &search::<D>(&loaded));
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
            &out.join(format!("hnswrs_{suffix}")),
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
            .args(["--dim", &D.to_string()])
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
        "n = {n}, dim = {D}, M = {}, ef_construction = {}",
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

/// Maximum-likelihood local intrinsic dimensionality (Levina & Bickel)
/// from each query's sorted k nearest distances, averaged over queries:
/// how hard the neighbourhoods are for any graph (higher is harder).
fn lid(knn_dists: &[Vec<f32>]) -> f64 {
    let per: Vec<f64> = knn_dists
        .iter()
        .filter_map(|d| {
            let dk = f64::from(*d.last()?);
            let s: f64 = d[..d.len() - 1]
                .iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| (f64::from(x) / dk).ln())
                .sum();
            (s < 0.0).then(|| -((d.len() - 1) as f64) / s)
        })
        .collect();
    per.iter().sum::<f64>() / per.len().max(1) as f64
}

/// `--vectors FILE.jsonl`: filtered recall@10 on real embeddings.
///
/// One photo per identity (for identities with at least two) is held out as
/// a query, up to `--queries`; the rest are indexed. Attributes mimic the
/// registry's: sex and birth year are per identity (a case), status per
/// face, all drawn from a hash so runs repeat. Each filter is searched
/// (a) in the graph walk with the given ef (`HnswIndex::search_ef`, no exact
/// fallback), and (b) through `FaceIndex::search` as the registry calls it
/// (default ef_search; very selective filters scan exactly there). Both
/// are compared with an exact scan of the accepted vectors.
pub mod real {
    use super::*;
    use homeward_core::index::SearchFilter;
    use std::collections::HashMap;

    fn hash(s: &str, salt: u64) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h ^ (h >> 29)
    }

    fn to_vec(v: &serde_json::Value) -> Option<[f32; 128]> {
        let a = v.as_array()?;
        if a.len() != 128 {
            return None;
        }
        let mut out = [0f32; 128];
        for (o, x) in out.iter_mut().zip(a) {
            *o = x.as_f64()? as f32;
        }
        Some(out)
    }

    /// (path, embedding) per photo: the `embedding` field, or the largest
    /// face of `faces`.
    fn read(path: &Path) -> Vec<(String, [f32; 128])> {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(p) = v["path"].as_str() else {
                continue;
            };
            let emb = to_vec(&v["embedding"]).or_else(|| {
                let area = |f: &serde_json::Value| {
                    let b: Vec<f64> = f["box"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                        .unwrap_or_default();
                    if b.len() == 4 {
                        (b[2] - b[0]) * (b[3] - b[1])
                    } else {
                        0.0
                    }
                };
                v["faces"]
                    .as_array()?
                    .iter()
                    .max_by(|a, b| area(a).total_cmp(&area(b)))
                    .and_then(|f| to_vec(&f["embedding"]))
            });
            if let Some(e) = emb {
                out.push((p.to_string(), e));
            }
        }
        out
    }

    pub fn run(file: &Path) {
        let params = HnswParams {
            m: arg("--m").and_then(|s| s.parse().ok()).unwrap_or(16),
            ef_construction: arg("--efc").and_then(|s| s.parse().ok()).unwrap_or(200),
            ef_search: HnswParams::default().ef_search,
        };
        let max_q: usize = arg("--queries")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let rows = read(file);
        let ident = |p: &str| {
            Path::new(p)
                .parent()
                .and_then(|d| d.file_name())
                .map_or_else(String::new, |d| d.to_string_lossy().into_owned())
        };
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (p, _)) in rows.iter().enumerate() {
            by_id.entry(ident(p)).or_default().push(i);
        }
        // Hold out the last photo of identities with >= 2, in a hashed order.
        let mut held: Vec<usize> = by_id
            .values()
            .filter(|v| v.len() >= 2)
            .filter_map(|v| v.last().copied())
            .collect();
        held.sort_by_key(|&i| hash(&rows[i].0, 1));
        held.truncate(max_q);
        let held_set: std::collections::HashSet<usize> = held.iter().copied().collect();
        let base: Vec<usize> = (0..rows.len()).filter(|i| !held_set.contains(i)).collect();
        let meta_of = |i: usize| {
            let (p, _) = &rows[i];
            let id = ident(p);
            let h = hash(&id, 2);
            FaceMeta {
                case_id: hash(&id, 3) >> 1,
                sex: if h.is_multiple_of(2) {
                    Sex::Female
                } else {
                    Sex::Male
                },
                birth_year: Some(2005 + ((h >> 8) % 10) as i32),
                location: None,
                status: if hash(p, 4).is_multiple_of(10) {
                    CaseStatus::Found
                } else {
                    CaseStatus::Searching
                },
            }
        };
        let items: Vec<(u64, [f32; 128], FaceMeta)> = base
            .iter()
            .enumerate()
            .map(|(k, &i)| (k as u64, rows[i].1, meta_of(i)))
            .collect();
        let metas: Vec<FaceMeta> = items.iter().map(|x| x.2).collect();
        let queries: Vec<[f32; 128]> = held.iter().map(|&i| rows[i].1).collect();
        println!(
            "real vectors: {} photos of {} identities from {}; {} indexed, {} held-out queries; M = {}, ef_construction = {}",
            rows.len(),
            by_id.len(),
            file.display(),
            items.len(),
            queries.len(),
            params.m,
            params.ef_construction
        );
        let (t, c) = (Instant::now(), process_cpu());
        let mut index = FaceIndex::new(params);
        index.insert_batch(&items).expect("build");
        println!(
            "build: {:.2} s wall, {:.2} s CPU",
            t.elapsed().as_secs_f64(),
            process_cpu() - c
        );

        let filters: Vec<(&str, SearchFilter)> = vec![
            ("none", SearchFilter::default()),
            (
                "sex (per case, ~50%)",
                SearchFilter {
                    sex: Some(Sex::Female),
                    ..Default::default()
                },
            ),
            (
                "birth year (per case, ~10%)",
                SearchFilter {
                    born_between: Some((2009, 2009)),
                    ..Default::default()
                },
            ),
            (
                "status (per face, ~10%)",
                SearchFilter {
                    statuses: vec![CaseStatus::Found],
                    ..Default::default()
                },
            ),
        ];
        for (name, f) in &filters {
            let accept = |id: u64| f.accepts(&metas[id as usize]);
            let passing = metas.iter().filter(|m| f.accepts(m)).count();
            // Exact top-10 of the accepted vectors.
            let truth: Vec<Vec<(f32, u64)>> = queries
                .par_iter()
                .map(|q| {
                    let mut d: Vec<(f32, u64)> = items
                        .iter()
                        .filter(|x| f.accepts(&x.2))
                        .map(|x| (l2(q, &x.1), x.0))
                        .collect();
                    d.sort_by(|a, b| a.0.total_cmp(&b.0));
                    d.truncate(10);
                    d
                })
                .collect();
            let dists: Vec<Vec<f32>> = truth
                .iter()
                .map(|t| t.iter().map(|x| x.0).collect())
                .collect();
            let truth: Vec<Vec<u64>> = truth
                .iter()
                .map(|t| t.iter().map(|x| x.1).collect())
                .collect();
            let wanted: usize = truth.iter().map(Vec::len).sum();
            let recall = |got: &[Vec<u64>]| {
                let hit: usize = got
                    .iter()
                    .zip(&truth)
                    .map(|(g, t)| g.iter().filter(|id| t.contains(id)).count())
                    .sum();
                hit as f64 / wanted.max(1) as f64
            };
            println!();
            println!(
                "filter {name}: {passing} of {} pass ({:.1} %), LID of the exact top-10 {:.1}",
                metas.len(),
                100.0 * passing as f64 / metas.len() as f64,
                lid(&dists)
            );
            let filter: Option<homeward_core::index::IdFilter<'_>> =
                (!f.is_empty()).then_some(&accept as homeward_core::index::IdFilter<'_>);
            let mut line = String::from("  graph walk   ef:recall@10 (CPU QPS)");
            for ef in efs() {
                let c = thread_cpu();
                let got: Vec<Vec<u64>> = queries
                    .iter()
                    .map(|q| {
                        index
                            .graph()
                            .search_ef(q, 10, ef, filter)
                            .expect("queries have the index's dimension")
                            .iter()
                            .map(|h| h.id)
                            .collect()
                    })
                    .collect();
                let qps = queries.len() as f64 / (thread_cpu() - c);
                line += &format!("  {ef}:{:.4} ({qps:.0})", recall(&got));
            }
            println!("{line}");
            let got: Vec<Vec<u64>> = queries
                .iter()
                .map(|q| {
                    let hits = index
                        .search(q, f, 10)
                        .expect("queries have the index's dimension");
                    hits.iter().map(|h| h.id).collect()
                })
                .collect();
            let short = got
                .iter()
                .zip(&truth)
                .filter(|(g, t)| g.len() < t.len())
                .count();
            println!(
                "  FaceIndex::search (registry path, ef_search {}): recall@10 {:.4}, short lists {short}",
                params.ef_search,
                recall(&got)
            );
        }
    }
}
