//! HNSW benchmark: build time, memory per vector, snapshot load time and
//! QPS at recall@10 targets, side by side with Python hnswlib on the same
//! vectors and parameters in the same run.
//!
//! ```text
//! cargo bench -p homeward-core --bench hnsw -- --n 100000 [--queries 1000] [--no-python]
//! ```
//!
//! Vectors are the synthetic face-like embeddings of `tests/support/synth.rs`
//! (identity clusters, same-person distance ≈ 0.42, different ≈ 0.9).
//! Files are written under `target/hnsw-bench/` for `benches/hnswlib_compare.py`.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use homeward_core::index::{l2, FaceIndex, FaceMeta, HnswParams};
use homeward_core::store::{CaseStatus, Sex};
use rayon::prelude::*;

const EFS: &[usize] = &[10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
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
    qps: f64,
}

fn at_target(sweep: &[Point], target: f64) -> String {
    sweep
        .iter()
        .find(|p| p.recall >= target)
        .map_or("not reached".into(), |p| {
            format!("{:>8.0} (ef {:>3}, recall {:.4})", p.qps, p.ef, p.recall)
        })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = arg("--n").and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let nq: usize = arg("--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let params = HnswParams {
        m: 16,
        ef_construction: 200,
        ef_search: 64,
    };
    let out: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/hnsw-bench");
    std::fs::create_dir_all(&out).expect("create target/hnsw-bench");
    println!(
        "hnsw bench: n = {n}, queries = {nq}, M = {}, ef_construction = {}, threads = {}",
        params.m,
        params.ef_construction,
        rayon::current_num_threads()
    );

    // Data: identities with 1..=5 photos until n vectors.
    let (centres, mut vecs, _) = synth::dataset(42, n / 3 + 16, 5);
    while vecs.len() < n {
        let extra = synth::dataset(43 + vecs.len() as u64, 1000, 5).1;
        vecs.extend(extra);
    }
    vecs.truncate(n);
    let queries = synth::queries(7, &centres, nq);
    let t = Instant::now();
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
            d.into_iter().map(|x| x.1).collect()
        })
        .collect();
    println!("exact ground truth: {:.1} s", t.elapsed().as_secs_f64());
    let base_p = out.join(format!("base_{n}.f32"));
    let q_p = out.join(format!("queries_{n}.f32"));
    let gt_p = out.join(format!("gt_{n}.u64"));
    write_f32(&base_p, &vecs).expect("write vectors");
    write_f32(&q_p, &queries).expect("write queries");
    let gt_bytes: Vec<u8> = gt.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&gt_p, gt_bytes).expect("write ground truth");

    // Build.
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
    let t = Instant::now();
    let mut index = FaceIndex::new(params);
    index.insert_batch(&items).expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let per_vec = (rss().saturating_sub(before)) as f64 / n as f64;
    drop(items);

    let sweep = |index: &FaceIndex| -> Vec<Point> {
        EFS.iter()
            .map(|&ef| {
                let t = Instant::now();
                let res: Vec<Vec<u64>> = queries
                    .iter()
                    .map(|q| {
                        index
                            .graph()
                            .search_ef(q, 10, ef, None)
                            .iter()
                            .map(|h| h.id)
                            .collect()
                    })
                    .collect();
                let secs = t.elapsed().as_secs_f64();
                let hit: usize = res
                    .iter()
                    .zip(&gt)
                    .map(|(r, g)| r.iter().filter(|id| g.contains(id)).count())
                    .sum();
                Point {
                    ef,
                    recall: hit as f64 / (10 * nq) as f64,
                    qps: nq as f64 / secs,
                }
            })
            .collect()
    };
    let ours = sweep(&index);

    // Snapshot save + load (header and CRC check, hnsw_rs reload with mmap).
    let snap = out.join(format!("snapshot_{n}"));
    let _ = std::fs::remove_dir_all(&snap);
    let t = Instant::now();
    index.save(&snap, 0).expect("save");
    let save_s = t.elapsed().as_secs_f64();
    drop(index);
    let metas: Vec<(u64, FaceMeta)> = (0..n as u64).map(|i| (i, meta)).collect();
    let t = Instant::now();
    let (loaded, _) = FaceIndex::load(&snap, 0, metas).expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let loaded_sweep = sweep(&loaded);

    // hnswlib on the same files.
    let py = if std::env::args().any(|a| a == "--no-python") {
        None
    } else {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/hnswlib_compare.py");
        let efs: Vec<String> = EFS.iter().map(|e| e.to_string()).collect();
        let res = std::process::Command::new("python3")
            .arg(script)
            .args([
                "--base",
                &base_p.to_string_lossy(),
                "--queries",
                &q_p.to_string_lossy(),
                "--gt",
                &gt_p.to_string_lossy(),
            ])
            .args([
                "--m",
                &params.m.to_string(),
                "--efc",
                &params.ef_construction.to_string(),
            ])
            .args([
                "--threads",
                &rayon::current_num_threads().to_string(),
                "--efs",
                &efs.join(","),
            ])
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
    let theirs: Vec<Point> = py
        .as_ref()
        .and_then(|v| v["sweep"].as_array())
        .map(|a| {
            a.iter()
                .map(|p| Point {
                    ef: p["ef"].as_u64().unwrap_or(0) as usize,
                    recall: p["recall"].as_f64().unwrap_or(0.0),
                    qps: p["qps"].as_f64().unwrap_or(0.0),
                })
                .collect()
        })
        .unwrap_or_default();

    println!();
    println!(
        "{:<28} {:>32} {:>32}",
        "", "homeward (hnsw_rs)", "hnswlib (python)"
    );
    let pyf = |k: &str| py.as_ref().and_then(|v| v[k].as_f64());
    let show = |x: Option<f64>, unit: &str| x.map_or("-".to_string(), |v| format!("{v:.2} {unit}"));
    println!(
        "{:<28} {:>32} {:>32}",
        "build time",
        format!("{build_s:.2} s"),
        show(pyf("build_s"), "s")
    );
    println!(
        "{:<28} {:>32} {:>32}",
        "memory per vector",
        format!("{per_vec:.0} B"),
        show(pyf("bytes_per_vector"), "B")
    );
    println!(
        "{:<28} {:>32} {:>32}",
        "snapshot save",
        format!("{save_s:.2} s"),
        "-"
    );
    println!(
        "{:<28} {:>32} {:>32}",
        "snapshot load",
        format!("{load_s:.3} s"),
        show(pyf("load_s"), "s")
    );
    for target in [0.95, 0.99] {
        println!(
            "{:<28} {:>32} {:>32}",
            format!("QPS @ recall@10 >= {target}"),
            at_target(&ours, target),
            if theirs.is_empty() {
                "-".into()
            } else {
                at_target(&theirs, target)
            }
        );
        println!(
            "{:<28} {:>32}",
            format!("  (after mmap reload)"),
            at_target(&loaded_sweep, target)
        );
    }
    println!();
    println!(
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "ef", "recall", "QPS", "recall(L)", "hnswlib r", "hnswlib QPS"
    );
    for (i, p) in ours.iter().enumerate() {
        let l = loaded_sweep[i];
        let t = theirs.get(i);
        println!(
            "{:>5} {:>10.4} {:>10.0} {:>10.4} {:>10} {:>10}",
            p.ef,
            p.recall,
            p.qps,
            l.recall,
            t.map_or("-".into(), |t| format!("{:.4}", t.recall)),
            t.map_or("-".into(), |t| format!("{:.0}", t.qps))
        );
    }
}
