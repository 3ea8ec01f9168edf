"""dlib's own accuracy on the first LFW View-2 folds, with Homeward's protocol.

    pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 pillow numpy
    python3 tools/lfw_dlib_reference.py --root ../shared/datasets/lfw-pairs --folds 2

Same protocol as `homeward eval lfw --upsample 0`: PIL decoding, CNN detector
without upsampling, the detection nearest the image centre, 5-point landmarks,
150 px chips with 0.25 padding, no jitter. Prints accuracy at dlib's 0.6 and at
the best threshold on these folds (optimistic: chosen on the same pairs). Used
to tell a pipeline bug from a protocol difference; Homeward never calls dlib.
"""
import argparse
import json

import dlib
import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--models", default="models")
    args = ap.parse_args()
    lines = open(f"{args.root}/pairs.txt").read().split("\n")
    per_fold = 2 * int(lines[0].split()[1])
    pairs = []
    for line in lines[1 : 1 + per_fold * args.folds]:
        f = line.split()
        if len(f) == 3:
            pairs.append(((f[0], int(f[1])), (f[0], int(f[2])), True))
        elif len(f) == 4:
            pairs.append(((f[0], int(f[1])), (f[2], int(f[3])), False))
    det = dlib.cnn_face_detection_model_v1(f"{args.models}/mmod_human_face_detector.dat")
    sp = dlib.shape_predictor(f"{args.models}/shape_predictor_5_face_landmarks.dat")
    rec = dlib.face_recognition_model_v1(f"{args.models}/dlib_face_recognition_resnet_model_v1.dat")
    emb = {}
    for name, n in sorted({p for a, b, _ in pairs for p in (a, b)}):
        img = np.asarray(Image.open(f"{args.root}/{name}/{name}_{n:04d}.jpg").convert("RGB"))
        h, w = img.shape[:2]
        dets = det(img, 0)
        if not dets:
            continue
        c = min(dets, key=lambda d: ((d.rect.left() + d.rect.right()) / 2 - w / 2) ** 2
                + ((d.rect.top() + d.rect.bottom()) / 2 - h / 2) ** 2)
        emb[(name, n)] = np.array(rec.compute_face_descriptor(img, sp(img, c.rect), 0, 0.25))
    ds = [(np.linalg.norm(emb[a] - emb[b]) if a in emb and b in emb else 9.0, s) for a, b, s in pairs]

    def acc(t):
        return float(np.mean([(d < t) == s for d, s in ds]))

    best = max((acc(t), t) for t in np.arange(0.4, 0.8, 0.0025))
    print(json.dumps({"pairs": len(pairs), "images_embedded": len(emb), "accuracy_at_0.6": acc(0.6),
                      "best_accuracy": best[0], "best_threshold": round(float(best[1]), 4)}))


if __name__ == "__main__":
    main()
