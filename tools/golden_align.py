"""Extra dlib references for Homeward's landmark and alignment tests.

    pip install dlib-bin==20.0.1 face-recognition-models==0.3.0 pillow numpy
    python3 tools/golden_align.py          # from the repository root

Only the lossless fixtures are used, so the Rust tests read exactly the pixels
dlib saw. For each, starting from the face golden_faces.py found:
  * boxes: the detection box shifted, scaled, cut by the image border, wholly
    outside it, tiny or degenerate -> dlib's (rounded) 5 landmarks;
  * chips: landmark sets scaled about their centre (large faces take dlib's
    image-pyramid path), rotated, pushed partly or wholly outside the image, at
    several chip sizes and paddings -> the chip dlib.get_face_chip cuts.
Writes fixtures/golden/align/cases.json and fixtures/golden/align/*.png.
Homeward itself never calls dlib.
"""
import hashlib
import json
import math
import os

import dlib
import numpy as np
from PIL import Image

FIXTURES = "fixtures"
OUT = "fixtures/golden/align"
MODEL = "models/shape_predictor_5_face_landmarks.dat"
LOSSLESS = ["astronaut.png", "obama_rot15.png"]


def box_variants(l, t, r, b, w, h):
    bw, bh = r - l + 1, b - t + 1
    return [
        ("detector", (l, t, r, b)),
        ("shift_right_7", (l + 7, t, r + 7, b)),
        ("shift_up_5", (l, t - 5, r, b - 5)),
        ("grow_20pct", (l - bw // 10, t - bh // 10, r + bw // 10, b + bh // 10)),
        ("shrink_20pct", (l + bw // 10, t + bh // 10, r - bw // 10, b - bh // 10)),
        ("odd_size", (l, t, r + 1, b + 2)),
        ("cut_left", (l - bw // 2 - l, t, r - l - bw // 2, b)),
        ("cut_bottom_right", (w - bw // 2, h - bh // 2, w - bw // 2 + bw - 1, h - bh // 2 + bh - 1)),
        ("wholly_outside", (-3 * bw, -3 * bh, -2 * bw, -2 * bh)),
        ("whole_image", (0, 0, w - 1, h - 1)),
        ("one_pixel", (l + bw // 2, t + bh // 2, l + bw // 2, t + bh // 2)),
    ]


def scale_rotate(points, scale, degrees, dx=0, dy=0):
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    a = math.radians(degrees)
    out = []
    for x, y in points:
        u, v = (x - cx) * scale, (y - cy) * scale
        out.append([int(round(cx + dx + u * math.cos(a) - v * math.sin(a))),
                    int(round(cy + dy + u * math.sin(a) + v * math.cos(a)))])
    return out


def chip_variants(points, w, h):
    return [
        ("size64", points, 64, 0.25),
        ("padding0", points, 80, 0.0),
        ("padding_half", points, 80, 0.5),
        ("scale3_pyramid1", scale_rotate(points, 3, 0), 96, 0.25),
        ("scale6_pyramid2_partly_outside", scale_rotate(points, 6, 0), 96, 0.25),
        ("rotate30", scale_rotate(points, 1, 30), 96, 0.25),
        ("rotate_minus100_scale2", scale_rotate(points, 2, -100), 150, 0.25),
        ("pushed_left_edge", scale_rotate(points, 1, 0, dx=-points[4][0]), 96, 0.25),
        ("wholly_outside", scale_rotate(points, 1, 0, dx=2 * w, dy=2 * h), 32, 0.25),
        ("tiny_face_upscaled", scale_rotate(points, 0.2, 10), 96, 0.25),
    ]


def main():
    sp = dlib.shape_predictor(MODEL)
    faces = {r["file"]: r["faces"][0] for r in json.load(open("fixtures/golden/faces.json"))["images"]
             if r["upsample"] == 0 and r["file"] in LOSSLESS}
    os.makedirs(OUT, exist_ok=True)
    cases = {"boxes": [], "chips": []}
    for name in LOSSLESS:
        img = np.asarray(Image.open(os.path.join(FIXTURES, name)).convert("RGB"))
        h, w = img.shape[:2]
        l, t, r, b = faces[name]["box"]
        for label, (bl, bt, br, bb) in box_variants(l, t, r, b, w, h):
            shape = sp(img, dlib.rectangle(bl, bt, br, bb))
            cases["boxes"].append({"file": name, "case": label, "box": [bl, bt, br, bb],
                                   "landmarks": [[p.x, p.y] for p in shape.parts()]})
        for label, pts, size, padding in chip_variants(faces[name]["landmarks"], w, h):
            det = dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), [dlib.point(x, y) for x, y in pts])
            chip = dlib.get_face_chip(img, det, size=size, padding=padding)
            chip_name = f"{os.path.splitext(name)[0]}_{label}.png"
            Image.fromarray(chip).save(os.path.join(OUT, chip_name))
            cases["chips"].append({"file": name, "case": label, "landmarks": pts, "size": size,
                                   "padding": padding, "chip": chip_name})
    doc = {"generator": "tools/golden_align.py", "dlib_version": dlib.__version__,
           "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(), **cases}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
