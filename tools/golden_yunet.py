"""Reference outputs of YuNet (onnxruntime) on every fixture photo, for
Homeward's golden test (crates/homeward-core/tests/golden_yunet.rs).

    pip install onnx onnxruntime numpy pillow
    python3 tools/golden_yunet.py          # from the repository root

The photos are decoded by Homeward's intake (examples/decode_png.rs) so that
both sides see the same pixels. Each is then shrunk by a whole factor
k = ceil(longest side / 640) by averaging k x k blocks in integers (rounded
half up; the last columns and rows that do not fill a block are dropped) and
padded with black at the right and bottom to multiples of 32: integer steps
that the Rust test repeats exactly, so both feed the network the same input.
The network sees BGR values 0-255, as OpenCV's FaceDetectorYN feeds it.

Stored per photo (fixtures/golden/yunet/yunet.json): the input size, the raw
outputs of a sample of anchors (every 37th anchor of each level, and every
anchor scoring 0.5 or more), and the faces decoded from onnxruntime's outputs
with this file's own decoder (score >= 0.5, greedy NMS at IoU 0.3). Only used
to produce test references; Homeward never runs Python or onnxruntime.
"""
import hashlib
import json
import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

MODEL = "models/face_detection_yunet_2023mar.onnx"
FIXTURES = "fixtures"
OUT = "fixtures/golden/yunet"
PHOTOS = ["astronaut.png", "biden.jpg", "biden_gray.jpg", "grace_hopper.jpg",
          "grace_hopper_exif6.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg",
          "obama_partial_face.jpg", "obama_rot15.png", "noface/chelsea.jpg", "noface/coffee.jpg"]
SIDE = 640
STRIDES = [8, 16, 32]
SAMPLE_EVERY = 37
SCORE = 0.5
NMS = 0.3


def network_input(img):
    h, w = img.shape[:2]
    k = -(-max(w, h) // SIDE)
    hk, wk = h // k, w // k
    blocks = img[:hk * k, :wk * k].astype(np.int64).reshape(hk, k, wk, k, 3).sum(axis=(1, 3))
    small = (blocks + (k * k) // 2) // (k * k)
    ph, pw = -(-hk // 32) * 32, -(-wk // 32) * 32
    out = np.zeros((ph, pw, 3), np.float32)
    out[:hk, :wk] = small
    return k, out[:, :, ::-1].transpose(2, 0, 1)[None].copy()  # BGR, NCHW


def session():
    m = onnx.load(MODEL)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    del m.graph.value_info[:]
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def f7(values):
    """Seven significant digits: ample for a 1e-4 comparison."""
    return [float(f"{v:.7g}") for v in values]


def iou(a, b):
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(ix, 0.0) * max(iy, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def faces(outs, pw, ph):
    cands = []
    for li, s in enumerate(STRIDES):
        cols = pw // s
        cls, obj = outs[f"cls_{s}"][0, :, 0], outs[f"obj_{s}"][0, :, 0]
        bbox, kps = outs[f"bbox_{s}"][0], outs[f"kps_{s}"][0]
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        for i in np.nonzero(score >= SCORE)[0]:
            r, c = divmod(int(i), cols)
            cx, cy = (c + bbox[i, 0]) * s, (r + bbox[i, 1]) * s
            bw, bh = np.exp(bbox[i, 2]) * s, np.exp(bbox[i, 3]) * s
            pts = [[(c + kps[i, 2 * n]) * s, (r + kps[i, 2 * n + 1]) * s] for n in range(5)]
            cands.append((float(score[i]), [float(cx - bw / 2), float(cy - bh / 2), float(bw), float(bh)],
                          [[float(x), float(y)] for x, y in pts]))
    cands.sort(key=lambda t: -t[0])
    kept = []
    for c in cands:
        if all(iou(k[1], c[1]) <= NMS for k in kept):
            kept.append(c)
    return [{"score": s, "box": b, "points": p} for s, b, p in kept]


def main():
    tmp = tempfile.mkdtemp()
    paths = [os.path.join(FIXTURES, p) for p in PHOTOS]
    cmd = ["cargo", "run", "--quiet", "-p", "homeward-core", "--example", "decode_png", "--", tmp] + paths
    decoded = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    sess = session()
    names = [o.name for o in sess.get_outputs()]
    records = []
    for photo, png in zip(PHOTOS, decoded):
        img = np.asarray(Image.open(png).convert("RGB"))
        k, x = network_input(img)
        outs = dict(zip(names, sess.run(None, {"input": x})))
        ph, pw = x.shape[2], x.shape[3]
        levels = []
        for s in STRIDES:
            cls, obj = outs[f"cls_{s}"][0, :, 0], outs[f"obj_{s}"][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            idx = sorted(set(range(0, len(cls), SAMPLE_EVERY)) | set(np.nonzero(score >= SCORE)[0].tolist()))
            levels.append({
                "stride": s,
                "anchors": idx,
                "cls": f7(cls[idx]),
                "obj": f7(obj[idx]),
                "bbox": f7(outs[f"bbox_{s}"][0][idx].ravel()),
                "kps": f7(outs[f"kps_{s}"][0][idx].ravel()),
            })
        found = faces(outs, pw, ph)
        records.append({"file": photo, "shrink": k, "width": pw, "height": ph,
                        "levels": levels, "faces": found})
        print(photo, k, pw, ph, len(found))
    doc = {
        "generator": "tools/golden_yunet.py",
        "onnxruntime_version": ort.__version__,
        "model": {os.path.basename(MODEL): hashlib.sha256(open(MODEL, "rb").read()).hexdigest()},
        "input": "intake-decoded photo, k x k block means (integers, half up), black padding to multiples of 32, BGR 0-255 NCHW",
        "decode": {"score_threshold": SCORE, "nms_threshold": NMS},
        "photos": records,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "yunet.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
