#!/usr/bin/env python3
"""Generates the small image fixtures under fixtures/intake/ used by
crates/homeward-core/tests/intake.rs, and the PIL reference summary of the
real photos in fixtures/*.jpg.

Run from the repository root:  python3 tools/make_intake_fixtures.py
Needs Pillow and NumPy. The output is deterministic for a given Pillow version.
"""
import json
import pathlib

import numpy as np
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "intake"

# The upright picture every orientation fixture must decode to: 32 wide,
# 16 high, four solid 16x8 quadrants. All four colours differ, so each of the
# eight EXIF transforms gives a different layout, and the width differs from
# the height, so a missing 90-degree turn shows in the dimensions too.
W, H = 32, 16
QUADRANTS = {
    "top_left": (220, 30, 30),      # red
    "top_right": (30, 200, 40),     # green
    "bottom_left": (40, 60, 220),   # blue
    "bottom_right": (240, 240, 240),  # white
}

# Transform that turns the stored pixels upright, per EXIF value (as PIL's
# ImageOps.exif_transpose), and its inverse, used to make the stored pixels.
TO_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
INVERSE = {
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
}


def upright():
    img = Image.new("RGB", (W, H))
    px = img.load()
    for y in range(H):
        for x in range(W):
            key = ("top" if y < H // 2 else "bottom") + "_" + ("left" if x < W // 2 else "right")
            px[x, y] = QUADRANTS[key]
    return img


def stored(orientation):
    img = upright()
    if orientation == 1:
        return img
    forward = TO_UPRIGHT[orientation]
    return img.transpose(INVERSE.get(forward, forward))


def exif_bytes(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def check_upright(path):
    """Self-check: PIL's own EXIF handling must give the upright picture."""
    with Image.open(path) as im:
        got = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.int16)
    want = np.asarray(upright(), dtype=np.int16)
    assert got.shape == want.shape, (path, got.shape)
    assert np.abs(got - want).max() <= 8, path


def orientation_fixtures():
    for o in range(1, 9):
        path = OUT / f"orientation_{o}.jpg"
        # 4:4:4 and high quality keep the solid 8x8 blocks close to exact.
        stored(o).save(path, "JPEG", quality=95, subsampling=0, exif=exif_bytes(o))
        check_upright(path)
    # The same tag in the other containers that carry it.
    path = OUT / "orientation_6.png"
    stored(6).save(path, "PNG", exif=exif_bytes(6))
    check_upright(path)
    path = OUT / "orientation_8.webp"
    stored(8).save(path, "WEBP", lossless=True, exif=exif_bytes(8))
    check_upright(path)
    path = OUT / "orientation_3.tiff"
    stored(3).save(path, "TIFF", tiffinfo={0x0112: 3})
    check_upright(path)


def cmyk_fixture():
    # Quadrants: cyan, magenta / yellow, black (pure K). PIL stores
    # Adobe-style inverted CMYK with an APP14 marker.
    img = Image.new("CMYK", (W, H))
    px = img.load()
    colours = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]
    for y in range(H):
        for x in range(W):
            px[x, y] = colours[(2 if y >= H // 2 else 0) + (1 if x >= W // 2 else 0)]
    img.save(OUT / "cmyk.jpg", "JPEG", quality=95, subsampling=0)


def other_container_fixtures():
    up = upright()
    up.save(OUT / "lossy.webp", "WEBP", quality=90)
    # Four colours, so the palette is exact.
    up.quantize(colors=4, method=Image.Quantize.MEDIANCUT).save(OUT / "palette.png", "PNG")
    pal = up.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    white = pal.getpixel((W - 1, H - 1))
    pal.save(OUT / "transparent.gif", "GIF", transparency=white)
    for name in ("lossy.webp", "palette.png", "transparent.gif"):
        with Image.open(OUT / name) as im:
            got = np.asarray(im.convert("RGB"), dtype=np.int16)
        want = np.asarray(up, dtype=np.int16)
        # Lossy chroma bleeds across quadrant edges: compare the quadrant
        # interiors, where the Rust test samples.
        for y0, x0 in ((2, 2), (2, 18), (10, 2), (10, 18)):
            region = (slice(y0, y0 + 4), slice(x0, x0 + 12))
            assert np.abs(got[region] - want[region]).max() <= 10, name


def reference_summary():
    """Size and 8x8-block means of PIL's decode of each real photo, so the
    Rust test can compare against PIL without running Python."""
    summary = {}
    for path in sorted((ROOT / "fixtures").glob("*.jpg")):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
        h, w, _ = rgb.shape
        grid = 8
        means = []
        for by in range(grid):
            for bx in range(grid):
                block = rgb[by * h // grid:(by + 1) * h // grid, bx * w // grid:(bx + 1) * w // grid]
                means.append([round(float(v), 3) for v in block.reshape(-1, 3).mean(axis=0)])
        summary[path.name] = {"width": w, "height": h, "grid": grid, "block_means": means}
    (OUT / "pil_reference.json").write_text(json.dumps(summary, indent=1) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    orientation_fixtures()
    cmyk_fixture()
    other_container_fixtures()
    reference_summary()


if __name__ == "__main__":
    main()
