#!/usr/bin/env python3
"""hnswlib side of crates/homeward-core/benches/hnsw.rs.

Reads the vectors, queries and exact top-10 the Rust bench wrote, builds an
hnswlib index with the same M / ef_construction, and prints one JSON object:
build time, memory per vector, save+load time, and recall@10 / QPS per ef
(single-threaded search, like the Rust side; QPS is the median of --reps runs,
per second of the search thread's CPU time, and per wall-clock second). Requires `pip install hnswlib numpy`.
"""
import argparse
import json
import os
import tempfile
import time

import hnswlib
import numpy as np


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--efs", default="10,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    base = np.fromfile(a.base, dtype="<f4").reshape(-1, a.dim)
    queries = np.fromfile(a.queries, dtype="<f4").reshape(-1, a.dim)
    gt = np.fromfile(a.gt, dtype="<u8").reshape(len(queries), -1)[:, :10]
    n = len(base)

    before = rss_bytes()
    t, c = time.perf_counter(), time.process_time()
    idx = hnswlib.Index(space="l2", dim=a.dim)  # hnswlib "l2" is squared L2: same ranking
    idx.init_index(max_elements=n, M=a.m, ef_construction=a.efc, random_seed=1)
    idx.set_num_threads(a.threads)
    idx.add_items(base, np.arange(n))
    build_s = time.perf_counter() - t
    build_cpu_s = time.process_time() - c
    mem = (rss_bytes() - before) / n

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "idx.bin")
        idx.save_index(path)
        t = time.perf_counter()
        loaded = hnswlib.Index(space="l2", dim=a.dim)
        loaded.load_index(path, max_elements=n)
        load_s = time.perf_counter() - t
        del loaded

    idx.set_num_threads(1)
    sweep = []
    for ef in [int(x) for x in a.efs.split(",")]:
        idx.set_ef(max(ef, 10))
        cpu, wall = [], []
        for _ in range(max(a.reps, 1)):
            # One search thread: hnswlib then runs the queries on this thread.
            t, c = time.perf_counter(), time.thread_time()
            labels, _ = idx.knn_query(queries, k=10)
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - t)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        hit = sum(len(set(labels[i]) & set(gt[i])) for i in range(len(queries)))
        sweep.append({
            "ef": ef,
            "recall": hit / (10 * len(queries)),
            "qps": len(queries) / med(cpu),
            "wall_qps": len(queries) / med(wall),
        })
    print(json.dumps({
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "bytes_per_vector": mem,
        "load_s": load_s,
        "sweep": sweep,
    }))


if __name__ == "__main__":
    main()
