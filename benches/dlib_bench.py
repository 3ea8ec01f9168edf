#!/usr/bin/env python3
"""The dlib side of `cargo bench -p homeward-core --bench faces`.

Times Python dlib (built from source with AVX and OpenBLAS, see README.md) and
the face_recognition package's CNN pipeline on the same inputs as the Rust
benchmark, and prints one JSON object on stdout. The Rust bench runs this as a
child process; it can also be run alone:

    python dlib_bench.py --models models --chips fixtures/golden/chips \
        --detect fixtures/astronaut.png --e2e fixtures --repeats 5

`--rss IMAGE` instead runs detection + landmarks + embeddings once on IMAGE at
upsample 0 and reports the process's peak resident set size.
"""

import argparse
import glob
import json
import os
import resource
import statistics
import sys
import time


def median_time(fn, repeats):
    """Median wall-clock and median CPU seconds (all threads of this process)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def load_rgb(path):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def photos_in(spec, limit, flat=False):
    """A folder (searched recursively unless `flat`, sorted) or one file."""
    if os.path.isdir(spec) and flat:
        files = sorted(
            os.path.join(spec, f)
            for f in os.listdir(spec)
            if f.lower().endswith((".jpg", ".jpeg", ".png"))
        )
    elif os.path.isdir(spec):
        files = sorted(
            f
            for f in glob.glob(os.path.join(spec, "**", "*"), recursive=True)
            if f.lower().endswith((".jpg", ".jpeg", ".png"))
        )
    else:
        files = [spec]
    return files[:limit] if limit else files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--chips")
    ap.add_argument("--detect", nargs="*", default=[])
    ap.add_argument("--e2e", nargs="*", default=[], help="folders, searched recursively")
    ap.add_argument("--e2e-flat", nargs="*", default=[], help="folders, top level only")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rss")
    args = ap.parse_args()

    import dlib

    m = args.models
    detector = dlib.cnn_face_detection_model_v1(os.path.join(m, "mmod_human_face_detector.dat"))
    predictor = dlib.shape_predictor(os.path.join(m, "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(
        os.path.join(m, "dlib_face_recognition_resnet_model_v1.dat")
    )
    out = {
        "dlib_version": dlib.__version__,
        "dlib_avx": bool(getattr(dlib, "USE_AVX_INSTRUCTIONS", False)),
        "dlib_blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
    }

    if args.rss:
        img = load_rgb(args.rss)
        dets = detector(img, 0)
        for d in dets:
            shape = predictor(img, d.rect)
            net.compute_face_descriptor(img, shape)
        out["faces"] = len(dets)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps(out))
        return

    if args.chips:
        chips = [load_rgb(f) for f in sorted(glob.glob(os.path.join(args.chips, "*.png")))]
        net.compute_face_descriptor(chips[0])  # warm-up
        single = median_time(lambda: [net.compute_face_descriptor(c) for c in chips], args.repeats)
        batched = median_time(lambda: net.compute_face_descriptor(chips), args.repeats)
        out["embed_chips"] = len(chips)
        out["embed_ms_per_chip"] = 1000 * single[0] / len(chips)
        out["embed_cpu_ms_per_chip"] = 1000 * single[1] / len(chips)
        out["embed_batch_ms_per_chip"] = 1000 * batched[0] / len(chips)
        out["embed_batch_cpu_ms_per_chip"] = 1000 * batched[1] / len(chips)

    detect = {}
    for path in args.detect:
        img = load_rgb(path)
        mp = img.shape[0] * img.shape[1] / 1e6
        detector(img, 0)  # warm-up
        wall, cpu = median_time(lambda: detector(img, 0), args.repeats)
        detect[os.path.basename(path)] = {
            "megapixels": mp,
            "ms_per_mp": 1000 * wall / mp,
            "cpu_ms_per_mp": 1000 * cpu / mp,
        }
    out["detect"] = detect

    e2e = {}
    if args.e2e or args.e2e_flat:
        import face_recognition

        specs = [(s, False) for s in args.e2e] + [(s, True) for s in args.e2e_flat]
        for spec, flat in specs:
            files = photos_in(spec, 0 if flat else args.limit, flat)

            def run():
                faces = 0
                for f in files:
                    img = face_recognition.load_image_file(f)
                    locs = face_recognition.face_locations(img, 1, "cnn")
                    faces += len(face_recognition.face_encodings(img, locs))
                return faces

            t0, c0 = time.perf_counter(), time.process_time()
            faces = run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            e2e[spec] = {
                "photos": len(files),
                "faces": faces,
                "photos_per_s": len(files) / wall,
                "cpu_photos_per_s": len(files) / cpu,
            }
    out["e2e"] = e2e
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
