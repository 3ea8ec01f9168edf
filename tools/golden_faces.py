"""Reference outputs of dlib for every fixture face, for Homeward's golden tests.

    pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 pillow numpy
    python3 tools/golden_faces.py          # from the repository root

Writes fixtures/golden/faces.json and, for each face, the 150x150 chip dlib
aligned (fixtures/golden/chips/*.png). Only used to produce test references;
Homeward itself never calls dlib.

dlib is given exactly the pixels Homeward's intake decodes (written to PNG by
`cargo run --example decode_png`), because JPEG decoders differ by a few grey
levels (libjpeg-turbo in PIL versus the image crate), which moves rounded
landmarks by up to 2 px. The effect of decoding with PIL instead is measured
and stored under "pil_decoder_effect".
"""
import hashlib
import json
import os
import subprocess
import tempfile
import time

import dlib
import numpy as np
from PIL import Image, ImageOps

MODELS = "models"
FIXTURES = "fixtures"
OUT = "fixtures/golden"
# Images above this many pixels are run without upsampling only (the CNN is slow).
UPSAMPLE_LIMIT_PX = 1_200_000


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_upright_rgb(path):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert("RGB"))


def decode_with_homeward(paths, out_dir):
    """Runs Homeward's intake on each photo; returns {photo path: decoded PNG path}."""
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "homeward-core", "--example", "decode_png", "--", out_dir] + paths
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return dict(zip(paths, lines))


def decoder_effect(name, ours, pil, det, sp, rec):
    """How far dlib's own results move when PIL decodes the JPEG instead."""
    a, b = det(ours, 0), det(pil, 0)
    if len(a) != 1 or len(b) != 1:
        return {"file": name, "note": f"faces: {len(a)} vs {len(b)}"}
    sa, sb = sp(ours, a[0].rect), sp(pil, b[0].rect)
    ea = np.array(rec.compute_face_descriptor(ours, sa, 0, 0.25))
    eb = np.array(rec.compute_face_descriptor(pil, sb, 0, 0.25))
    return {
        "file": name,
        "mean_abs_pixel_difference": float(np.abs(ours.astype(int) - pil.astype(int)).mean()),
        "max_landmark_difference_px": max(max(abs(p.x - q.x), abs(p.y - q.y)) for p, q in zip(sa.parts(), sb.parts())),
        "score_difference": abs(a[0].confidence - b[0].confidence),
        "embedding_distance": float(np.linalg.norm(ea - eb)),
    }


def main():
    det = dlib.cnn_face_detection_model_v1(os.path.join(MODELS, "mmod_human_face_detector.dat"))
    sp = dlib.shape_predictor(os.path.join(MODELS, "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(os.path.join(MODELS, "dlib_face_recognition_resnet_model_v1.dat"))
    os.makedirs(os.path.join(OUT, "chips"), exist_ok=True)

    files = sorted(f for f in os.listdir(FIXTURES) if f.lower().endswith((".jpg", ".png")))
    tmp = tempfile.mkdtemp()
    decoded = decode_with_homeward([os.path.join(FIXTURES, f) for f in files], tmp)
    records = []
    effect = []
    for name in files:
        img = np.asarray(Image.open(decoded[os.path.join(FIXTURES, name)]).convert("RGB"))
        pil = load_upright_rgb(os.path.join(FIXTURES, name))
        if not np.array_equal(img, pil):
            effect.append(decoder_effect(name, img, pil, det, sp, rec))
        h, w = img.shape[:2]
        for upsample in (0, 1):
            if upsample and w * h > UPSAMPLE_LIMIT_PX:
                continue
            t = time.time()
            dets = det(img, upsample)
            faces = []
            for i, d in enumerate(dets):
                r = d.rect
                shape = sp(img, r)
                chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
                emb = rec.compute_face_descriptor(img, shape, 0, 0.25)
                emb_flip = rec.compute_face_descriptor(np.ascontiguousarray(chip[:, ::-1, :]))
                chip_name = f"{os.path.splitext(name)[0]}_up{upsample}_{i}.png"
                Image.fromarray(chip).save(os.path.join(OUT, "chips", chip_name))
                faces.append({
                    "box": [r.left(), r.top(), r.right(), r.bottom()],
                    "score": d.confidence,
                    "landmarks": [[p.x, p.y] for p in shape.parts()],
                    "embedding": list(emb),
                    "embedding_of_flipped_chip": list(emb_flip),
                    "chip": chip_name,
                })
            print(f"{name} up{upsample}: {len(faces)} faces in {time.time() - t:.1f}s")
            records.append({"file": name, "width": w, "height": h, "upsample": upsample, "faces": faces})

    doc = {
        "generator": "tools/golden_faces.py",
        "dlib_version": dlib.__version__,
        "image_loading": "Homeward intake (examples/decode_png.rs), read back with PIL",
        "pil_decoder_effect": effect,
        "landmark_note": "dlib full_object_detection parts are integer pixel positions (rounded)",
        "models": {f: sha256(os.path.join(MODELS, f)) for f in sorted(os.listdir(MODELS)) if f.endswith(".dat")},
        "images": records,
    }
    with open(os.path.join(OUT, "faces.json"), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
