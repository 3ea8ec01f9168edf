"""Reference outputs of SFace (onnxruntime) for every fixture face, for
Homeward's golden tests (crates/homeward-core/tests/golden_sface.rs).

    pip install onnxruntime numpy pillow
    python3 tools/golden_sface.py          # from the repository root

For each fixture photo's face in fixtures/golden/faces.json (dlib's landmarks,
no upsampling), derives the five template points from dlib's landmarks, warps
the 112x112 chip (both as crates/homeward-core/src/sface/align.rs does,
re-implemented here in numpy), saves the chip as PNG and stores onnxruntime's
embedding of the chip and of its mirror image in fixtures/golden/sface.json.
The photos are decoded by Homeward's intake (examples/decode_png.rs) so that
both sides see the same pixels. Only used to produce test references.
"""
import hashlib
import json
import os
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort
from PIL import Image

MODEL = "models/face_recognition_sface_2021dec.onnx"
FIXTURES = "fixtures"
OUT = "fixtures/golden/sface"

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]])
# Same coefficients as DLIB_TO_TEMPLATE in align.rs (tools/fit_sface_points.py).
DLIB_TO_TEMPLATE = [
    [[-0.49641, 0.17936, -0.02138], [-0.14988, 0.07616, 0.14425]],
    [[0.51422, 0.23865, 0.05148], [-0.15740, -0.04104, 0.17762]],
    [[-0.10587, 1.44066, 0.14968], [0.18875, 0.06127, 0.50216]],
    [[-0.40053, 0.29509, -0.05084], [0.63349, -0.04667, 0.52653]],
    [[0.50126, 0.26020, -0.04482], [0.60377, -0.17039, 0.58239]],
]


def template_points(p):
    p = [np.array(q, float) for q in p]
    eye_l, eye_r = (p[2] + p[3]) / 2, (p[0] + p[1]) / 2
    m = (eye_l + eye_r) / 2
    u = eye_r - eye_l
    v = np.array([-u[1], u[0]])
    s = u[0] * u[0] + u[1] * u[1]
    q = p[4] - m
    nx, ny = (q[0] * u[0] + q[1] * u[1]) / s, (q[0] * v[0] + q[1] * v[1]) / s
    out = []
    for cx, cy in DLIB_TO_TEMPLATE:
        a = cx[0] + cx[1] * nx + cx[2] * ny
        b = cy[0] + cy[1] * nx + cy[2] * ny
        out.append([m[0] + a * u[0] + b * v[0], m[1] + a * u[1] + b * v[1]])
    return np.array(out)


def similarity(frm, to):
    """Umeyama's least-squares similarity frm -> to (2-D closed form)."""
    mf, mt = frm.mean(0), to.mean(0)
    df, dt = frm - mf, to - mt
    n = len(frm)
    sigma = (df ** 2).sum() / n
    cov = dt.T @ df / n
    p, q = cov[0, 0] + cov[1, 1], cov[1, 0] - cov[0, 1]
    m = np.array([[p, -q], [q, p]]) / sigma
    return m, mt - m @ mf


def warp(img, points):
    m, b = similarity(TEMPLATE, points)
    h, w = img.shape[:2]
    r, c = np.mgrid[0:112, 0:112].astype(float)
    x = m[0, 0] * c + m[0, 1] * r + b[0]
    y = m[1, 0] * c + m[1, 1] * r + b[1]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(int), y0.astype(int)

    def at(xi, yi):
        ok = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
        v = img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)].astype(float)
        return np.where(ok[..., None], v, 0.0)

    top = (1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)
    bottom = (1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)
    v = (1 - fy) * top + fy * bottom
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def main():
    golden = json.load(open("fixtures/golden/faces.json"))
    records = [r for r in golden["images"] if r["upsample"] == 0]
    tmp = tempfile.mkdtemp()
    paths = [os.path.join(FIXTURES, r["file"]) for r in records]
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "homeward-core", "--example", "decode_png", "--", tmp] + paths
    decoded = dict(zip(paths, subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()))
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    os.makedirs(os.path.join(OUT, "chips"), exist_ok=True)

    def embed(chip):
        x = chip.astype(np.float32).transpose(2, 0, 1)[None]  # RGB, 0-255, NCHW
        return sess.run(None, {"data": x})[0][0]

    faces = []
    for rec, path in zip(records, paths):
        img = np.asarray(Image.open(decoded[path]).convert("RGB"))
        for i, face in enumerate(rec["faces"]):
            pts = template_points(face["landmarks"])
            chip = warp(img, pts)
            name = f"{os.path.splitext(rec['file'])[0]}_{i}.png"
            Image.fromarray(chip).save(os.path.join(OUT, "chips", name))
            faces.append({
                "file": rec["file"],
                "landmarks": face["landmarks"],
                "template_points": pts.tolist(),
                "chip": name,
                "embedding": [float(v) for v in embed(chip)],
                "embedding_of_flipped_chip": [float(v) for v in embed(np.ascontiguousarray(chip[:, ::-1]))],
            })
            print(rec["file"], i)
    doc = {
        "generator": "tools/golden_sface.py",
        "onnxruntime_version": ort.__version__,
        "model": {os.path.basename(MODEL): hashlib.sha256(open(MODEL, "rb").read()).hexdigest()},
        "input": "RGB chip, values 0-255, NCHW float32 (the graph subtracts 127.5 and scales by 1/128)",
        "faces": faces,
    }
    with open(os.path.join(OUT, "sface.json"), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
