"""Reference outputs of dlib for every fixture face, for Homeward's golden tests.

    pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 pillow numpy
    python3 tools/golden_faces.py          # from the repository root

Writes fixtures/golden/faces.json and, for each face, the 150x150 chip dlib
aligned (fixtures/golden/chips/*.png). Only used to produce test references;
Homeward itself never calls dlib.
"""
import hashlib
import json
import os
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


def main():
    det = dlib.cnn_face_detection_model_v1(os.path.join(MODELS, "mmod_human_face_detector.dat"))
    sp = dlib.shape_predictor(os.path.join(MODELS, "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(os.path.join(MODELS, "dlib_face_recognition_resnet_model_v1.dat"))
    os.makedirs(os.path.join(OUT, "chips"), exist_ok=True)

    files = sorted(f for f in os.listdir(FIXTURES) if f.lower().endswith((".jpg", ".png")))
    records = []
    for name in files:
        img = load_upright_rgb(os.path.join(FIXTURES, name))
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
        "image_loading": "PIL Image.open, ImageOps.exif_transpose, convert('RGB')",
        "landmark_note": "dlib full_object_detection parts are integer pixel positions (rounded)",
        "models": {f: sha256(os.path.join(MODELS, f)) for f in sorted(os.listdir(MODELS)) if f.endswith(".dat")},
        "images": records,
    }
    with open(os.path.join(OUT, "faces.json"), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
