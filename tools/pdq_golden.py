#!/usr/bin/env python3
"""Writes fixtures/golden/pdq/golden.json: PDQ hashes from an independent
implementation, used only as a test oracle for crates/homeward-core/src/hash.

Oracle: the PyPI package `pdqhash` (Python bindings that compile Meta's C++
PDQ reference), `pip install pdqhash pillow numpy`.

JPEG decoders differ by a few grey levels, so the oracle never sees a JPEG:
every input is written as a PNG under fixtures/golden/pdq/inputs/ first and
the oracle hashes the PNG's pixels, which the Rust test decodes identically.
Rotations and mirrors are made by the test from those PNGs (exact pixel
moves); `pixels_sha256` lets the test prove it hashes the same pixels.

Usage (from the repository root): python3 tools/pdq_golden.py
"""
import hashlib
import io
import json
import pathlib

import numpy as np
import pdqhash
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "golden" / "pdq"
INPUTS = OUT / "inputs"

# Heavier variants (full-size re-encode, grey) only for a few photos, to keep
# the committed PNGs small; every photo gets original, half size, rotations.
HEAVY = {"astronaut.png", "grace_hopper.jpg", "obama2.jpg"}
HALF_ONLY = {"obama3.jpg"}


def to_hex(bits):
    # pdqhash returns bit 255 first, the order the reference prints.
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return format(value, "064x")


def save_png(img, name):
    path = INPUTS / name
    img.save(path, format="PNG", optimize=True)
    # Re-read so the oracle sees exactly what the test will decode.
    return Image.open(path).convert("RGB")


def case(name, png_name, img, transform):
    if transform == "rotate90":
        img = img.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    elif transform == "mirror":
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    bits, quality = pdqhash.compute(arr)
    dihedral, dquality = pdqhash.compute_dihedral(arr)
    return {
        "name": name,
        "input": f"inputs/{png_name}",
        "transform": transform,
        "width": img.width,
        "height": img.height,
        "pixels_sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
        "pdq": to_hex(bits),
        "quality": int(quality),
        "dihedral": [to_hex(b) for b in dihedral],
        "dihedral_quality": int(dquality),
    }


def main():
    INPUTS.mkdir(parents=True, exist_ok=True)
    for old in INPUTS.glob("*.png"):
        old.unlink()
    cases = []
    for src in sorted((ROOT / "fixtures").iterdir()):
        if src.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        stem = src.stem
        original = Image.open(src).convert("RGB")
        w, h = original.size
        # obama3 (1434x2333, 3.6 MB as PNG) is kept at half size only; biden
        # (970x2204) already covers large filter windows at full size.
        variants = [] if src.name in HALF_ONLY else [("original", original)]
        variants.append(("half", original.resize((w // 2, h // 2), Image.Resampling.LANCZOS)))
        if src.name in HEAVY:
            buf = io.BytesIO()
            original.save(buf, format="JPEG", quality=40)
            variants.append(("jpeg_q40", Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
            variants.append(("gray", original.convert("L").convert("RGB")))
        if src.name == "grace_hopper.jpg":
            # Exactly the minimum size, where the reference skips its filter.
            variants.append(("size64", original.resize((64, 64), Image.Resampling.BOX)))
            variants.append(("size65x97", original.resize((65, 97), Image.Resampling.BOX)))
        for label, img in variants:
            png_name = f"{stem}_{label}.png"
            decoded = save_png(img, png_name)
            transforms = ["none", "rotate90", "mirror"] if label == "original" else ["none"]
            for t in transforms:
                cases.append(case(f"{src.name}/{label}/{t}", png_name, decoded, t))
    doc = {
        "oracle": f"PyPI pdqhash {pdqhash.__version__} (Meta's C++ PDQ reference), "
        "luma computed by the binding in float64 then cast to float32",
        "generator": "tools/pdq_golden.py",
        "hex_order": "bit 255 first, as the reference prints",
        "dihedral_order": [
            "original", "rotate90", "rotate180", "rotate270",
            "flipx", "flipy", "flipplus1", "flipminus1",
        ],
        "cases": cases,
    }
    (OUT / "golden.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT / 'golden.json'}")


if __name__ == "__main__":
    main()
