#!/usr/bin/env python3
"""Writes an RGB noise PNG (16 random rows repeated): noise_png.py WIDTH HEIGHT OUT.png."""
import sys, zlib, struct, random
w, h, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(1)
def chunk(t, d):
    c = struct.pack(">I", len(d)) + t + d
    return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
comp = zlib.compressobj(1)
parts = []
# smooth-ish noise: random row blocks repeated so it compresses somewhat
rows = [b"\x00" + random.randbytes(w * 3) for _ in range(16)]
for y in range(h):
    parts.append(comp.compress(rows[y % 16]))
parts.append(comp.flush())
ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
