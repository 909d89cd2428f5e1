#!/usr/bin/env python3
"""Writes the vocab-only GGUF seeds of fuzz-spm-vocab: each fixture model's metadata
(tokenizer.ggml.* included) with its tensors dropped, so a seed is a few KiB instead of
the model's hundreds.

    tests/fuzz/make-vocab-seeds.py OUT_DIR MODEL.gguf...

Standard library only; reads GGUF v2/v3 (little-endian).
"""
import os
import struct
import sys

# GGUF metadata value types -> struct format of a scalar; 8 is a string, 9 an array.
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def skip_value(buf, at, vtype):
    if vtype in SCALARS:
        return at + struct.calcsize("<" + SCALARS[vtype])
    if vtype == 8:
        (n,) = struct.unpack_from("<Q", buf, at)
        return at + 8 + n
    if vtype == 9:
        etype, count = struct.unpack_from("<IQ", buf, at)
        at += 12
        for _ in range(count):
            at = skip_value(buf, at, etype)
        return at
    raise ValueError(f"unknown GGUF value type {vtype}")


def vocab_only(buf):
    magic, version, _n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    if magic != b"GGUF" or version not in (2, 3):
        raise ValueError("not a GGUF v2/v3 file")
    at = 24
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, at)
        at += 8 + klen
        (vtype,) = struct.unpack_from("<I", buf, at)
        at = skip_value(buf, at + 4, vtype)
    return struct.pack("<4sIQQ", magic, version, 0, n_kv) + buf[24:at]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = vocab_only(f.read())
        name = os.path.basename(path).removesuffix(".gguf") + "-vocab.gguf"
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
