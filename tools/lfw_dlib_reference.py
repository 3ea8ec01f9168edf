"""dlib's own LFW accuracy, to tell a pipeline bug from a protocol difference.

    pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 pillow numpy
    python3 tools/lfw_dlib_reference.py --root ../shared/datasets/lfw-pairs [--folds 10]
        [--detector cnn|hog] [--upsample 0] [--jitter 0] [--save dists.json]

Default protocol is that of `homeward eval lfw --upsample 0`: PIL decoding,
CNN detector without upsampling, the detection nearest the image centre,
5-point landmarks, 150 px chips with 0.25 padding, no jitter. `--detector
hog` is the protocol dlib's author describes for the published 99.38%: the
HOG detector's box, or a box in the middle of the image when it finds none.
Prints the standard View-2 figure (each fold's threshold chosen on the other
nine; mean and standard deviation) and the accuracy at dlib's 0.6. Used to
tell a pipeline bug from a protocol difference; Homeward never calls dlib.
"""
import argparse
import json

import dlib
import numpy as np
from PIL import Image


def centre_box(w, h):
    # LFW images are 250x250 with the face centred, about 100 px high.
    s = min(w, h) * 0.45
    return dlib.rectangle(int(w / 2 - s / 2), int(h / 2 - s / 2), int(w / 2 + s / 2), int(h / 2 + s / 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--models", default="models")
    ap.add_argument("--detector", choices=["cnn", "hog"], default="cnn")
    ap.add_argument("--upsample", type=int, default=0)
    ap.add_argument("--jitter", type=int, default=0)
    ap.add_argument("--save")
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
    if args.detector == "cnn":
        cnn = dlib.cnn_face_detection_model_v1(f"{args.models}/mmod_human_face_detector.dat")
        detect = lambda img: [d.rect for d in cnn(img, args.upsample)]
    else:
        hog = dlib.get_frontal_face_detector()
        detect = lambda img: list(hog(img, args.upsample))
    sp = dlib.shape_predictor(f"{args.models}/shape_predictor_5_face_landmarks.dat")
    rec = dlib.face_recognition_model_v1(f"{args.models}/dlib_face_recognition_resnet_model_v1.dat")
    emb, fallback = {}, 0
    for name, n in sorted({p for a, b, _ in pairs for p in (a, b)}):
        img = np.asarray(Image.open(f"{args.root}/{name}/{name}_{n:04d}.jpg").convert("RGB"))
        h, w = img.shape[:2]
        rects = detect(img)
        if rects:
            r = min(rects, key=lambda d: ((d.left() + d.right()) / 2 - w / 2) ** 2
                    + ((d.top() + d.bottom()) / 2 - h / 2) ** 2)
        else:
            fallback += 1
            r = centre_box(w, h)
        emb[(name, n)] = np.array(rec.compute_face_descriptor(img, sp(img, r), args.jitter, 0.25))
    ds = np.array([np.linalg.norm(emb[a] - emb[b]) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])

    def acc(idx, t):
        return float(np.mean((ds[idx] < t) == same[idx]))

    thresholds = np.arange(0.3, 0.9, 0.0025)
    folds = [np.arange(i * per_fold, (i + 1) * per_fold) for i in range(args.folds)]
    fold_acc = []
    for i, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != i]) if args.folds > 1 else test
        t = max(thresholds, key=lambda t: acc(train, t))
        fold_acc.append(acc(test, t))
    every = np.arange(len(pairs))
    out = {"protocol": {"detector": args.detector, "upsample": args.upsample, "jitter": args.jitter},
           "pairs": len(pairs), "images": len(emb), "no_detection_centre_box": fallback,
           "mean_accuracy": float(np.mean(fold_acc)), "std": float(np.std(fold_acc)),
           "fold_accuracies": fold_acc, "accuracy_at_0.6": acc(every, 0.6)}
    print(json.dumps(out))
    if args.save:
        json.dump({"pairs": [[f"{a[0]}/{a[1]}", f"{b[0]}/{b[1]}", bool(s), float(d)]
                             for (a, b, s), d in zip(pairs, ds)], **out}, open(args.save, "w"))


if __name__ == "__main__":
    main()
