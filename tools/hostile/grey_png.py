#!/usr/bin/env python3
"""Writes an all-zero 8-bit grey PNG: grey_png.py WIDTH HEIGHT OUT.png (issue 13 repro)."""
import sys, zlib, struct
def png(w, h, path):
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    comp = zlib.compressobj(9)
    data = b""
    row = b"\x00" + b"\x00" * w
    for _ in range(h):
        data += comp.compress(row)
    data += comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
png(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
