#!/usr/bin/env python3
"""Generate the dequantization goldens in tests/data/quant/.

The independent reference is the numpy dequantizer of the PyPI `gguf` package
(gguf.quants.dequantize), and numpy's own float32 -> float16 conversion for the
half-precision rounding file. Inputs are seeded random blocks, so running this again
gives byte-identical files (for the same gguf/numpy behaviour).

Usage:  python tests/tools/gen-quant-goldens.py [--out DIR]
        (needs numpy and gguf, see tests/tools/requirements.txt)

File format of <type>.bin (all little-endian), read by tests/kernels/test-dequantize.cpp:
    offset  size  field
    0       4     magic "KVQG"
    4       4     u32 format version (1)
    8       4     u32 GGUF type id (ggml_type)
    12      4     u32 reserved (0)
    16      8     u64 n_elements
    24      8     u64 n_bytes of raw tensor data
    32      ...   n_bytes raw blocks, packed as in a GGUF tensor
    ...     ...   n_elements float32: expected dequantized values

File format of fp-convert.bin (float32 -> fp16 / bf16 rounding, no NaN inputs since
numpy does not define the NaN payload it produces):
    0       4     magic "KVFC"
    4       4     u32 format version (1)
    8       4     u32 count
    12      4     u32 reserved (0)
    16      ...   count float32 inputs
    ...     ...   count u16 fp16 bit patterns (numpy astype(float16): nearest, ties to even)
    ...     ...   count u16 bf16 bit patterns (nearest, ties to even, via gguf.quants.BF16)
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import BF16, dequantize

SEED = 20240611
FORMAT_VERSION = 1

# type -> (elements per block, bytes per block, byte offsets of fp16 "d" fields,
#          byte offsets of fp16 "min" fields, number of blocks to write)
QUANT_TYPES = {
    T.Q4_0: (32, 18, [0], [], 8),
    T.Q4_1: (32, 20, [0], [2], 8),
    T.Q5_0: (32, 22, [0], [], 8),
    T.Q5_1: (32, 24, [0], [2], 8),
    T.Q8_0: (32, 34, [0], [], 8),
    T.Q4_K: (256, 144, [0], [2], 6),
    T.Q5_K: (256, 176, [0], [2], 6),
    T.Q6_K: (256, 210, [208], [], 6),
}


def moderate_fp16(rng: np.random.Generator) -> int:
    """A finite fp16 of either sign with magnitude 1e-4 .. 1, as raw bits."""
    mag = 10.0 ** rng.uniform(-4.0, 0.0)
    sign = -1.0 if rng.random() < 0.5 else 1.0
    return int(np.array(sign * mag, dtype=np.float16).view(np.uint16))


def fp16_bits(x: float) -> int:
    return int(np.array(x, dtype=np.float16).view(np.uint16))


def make_quant_blocks(rng: np.random.Generator, qtype: T) -> bytes:
    _, block_bytes, d_offs, m_offs, n_blocks = QUANT_TYPES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for b in range(n_blocks):
        d = moderate_fp16(rng)
        m = moderate_fp16(rng)
        # Edge cases on fixed blocks, the rest random.
        if b == 0:
            d = 0x0000  # zero scale: output is exactly the (possibly zero) min term
        elif b == 1:
            d = 0x8000 | (d & 0x7FFF)  # negative scale
            m = 0x8000 | (m & 0x7FFF)  # negative min
        elif b == 2:
            d = 0x0203  # fp16 subnormal scale
            m = 0x8011  # negative fp16 subnormal min
        elif b == 3:
            d = fp16_bits(-0.0)
            m = 0x0000
        elif b == 4:
            d = fp16_bits(2.0)  # large scale: outputs far from 1, still finite
            m = fp16_bits(-3.5)
        for off in d_offs:
            raw[b, off:off + 2] = np.frombuffer(struct.pack("<H", d), dtype=np.uint8)
        for off in m_offs:
            raw[b, off:off + 2] = np.frombuffer(struct.pack("<H", m), dtype=np.uint8)
    return raw.tobytes()


def make_plain(rng: np.random.Generator, qtype: T) -> bytes:
    n = 256
    if qtype == T.F32:
        vals = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n)).astype(np.float32)
        special = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000,
                            0xFFA00001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x3F800000],
                           dtype=np.uint32)
        bits = vals.view(np.uint32)
        bits[:len(special)] = special
        return bits.tobytes()
    # F16 / BF16: random bit patterns (NaNs and infs included by chance) plus fixed edges.
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    if qtype == T.F16:
        special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF,
                   0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE00, 0x3C00, 0x3555, 0x0200]
    else:
        special = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x7F80,
                   0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x3F80, 0x3EAB, 0x0040, 0xC000]
    bits[:len(special)] = special
    return bits.tobytes()


def expected_values(raw: bytes, qtype: T) -> np.ndarray:
    data = np.frombuffer(raw, dtype=np.uint8).copy()
    out = dequantize(data, qtype)
    return np.asarray(out, dtype=np.float32).reshape(-1)


def write_golden(path: Path, qtype: T, raw: bytes, expected: np.ndarray) -> None:
    header = b"KVQG" + struct.pack("<IIIQQ", FORMAT_VERSION, int(qtype), 0, expected.size, len(raw))
    path.write_bytes(header + raw + expected.astype("<f4").tobytes())


def make_convert_inputs(rng: np.random.Generator) -> np.ndarray:
    """float32 inputs that stress fp16/bf16 rounding: ties, near-overflow, subnormals."""
    parts = []
    # Random bit patterns over the whole finite range.
    parts.append(rng.integers(0, 0x7F800000, size=512, dtype=np.uint32))
    # Values in the fp16 range (exponents 2^-26 .. 2^16) with random mantissas.
    exps = rng.integers(127 - 26, 127 + 17, size=768, dtype=np.uint32)
    parts.append((exps << 23) | rng.integers(0, 1 << 23, size=768, dtype=np.uint32))
    # Exact fp16 ties (low 13 bits = 0x1000) and near-ties, normal range.
    base = (rng.integers(127 - 14, 127 + 16, size=256, dtype=np.uint32) << 23) | \
        (rng.integers(0, 1 << 10, size=256, dtype=np.uint32) << 13)
    parts.append(base | 0x1000)
    parts.append(base | 0x0FFF)
    parts.append(base | 0x1001)
    # Exact bf16 ties.
    parts.append((rng.integers(1, 0xFF, size=128, dtype=np.uint32) << 23) |
                 (rng.integers(0, 1 << 7, size=128, dtype=np.uint32) << 16) | 0x8000)
    fixed = np.array([65504.0, 65519.0, 65520.0, 65536.0, 1e30, 2.0 ** -24, 2.0 ** -25,
                      2.0 ** -25 * 1.0000001, 1.5 * 2.0 ** -24, 2.5 * 2.0 ** -24,
                      2.0 ** -14, 2.0 ** -14 - 2.0 ** -25, 1e-45, 0.0, 3.4028235e38],
                     dtype=np.float32).view(np.uint32)
    parts.append(fixed)
    bits = np.concatenate(parts).astype(np.uint32)
    signs = rng.integers(0, 2, size=bits.size, dtype=np.uint32) << 31
    bits = bits | signs
    bits = np.concatenate([bits, np.array([0x7F800000, 0xFF800000], dtype=np.uint32)])
    return bits.view(np.float32)


def write_convert(path: Path, inputs: np.ndarray) -> None:
    fp16 = inputs.astype(np.float16).view(np.uint16)
    bf16 = np.asarray(BF16.quantize(inputs.copy())).view(np.uint16).reshape(-1)
    assert fp16.size == bf16.size == inputs.size
    header = b"KVFC" + struct.pack("<III", FORMAT_VERSION, inputs.size, 0)
    path.write_bytes(header + inputs.astype("<f4").tobytes() + fp16.astype("<u2").tobytes() +
                     bf16.astype("<u2").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "data" / "quant")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    # One generator per file, seeded by type id, so adding a type never changes the others.
    for qtype in [T.F32, T.F16, T.BF16, *QUANT_TYPES]:
        rng = np.random.default_rng([SEED, int(qtype)])
        raw = make_plain(rng, qtype) if qtype in (T.F32, T.F16, T.BF16) else make_quant_blocks(rng, qtype)
        expected = expected_values(raw, qtype)
        if qtype not in (T.F32, T.F16, T.BF16):
            assert np.all(np.isfinite(expected)), qtype.name
        path = args.out / f"{qtype.name.lower()}.bin"
        write_golden(path, qtype, raw, expected)
        print(f"{path.name}: {expected.size} elements, {len(raw)} bytes of blocks")

    rng = np.random.default_rng([SEED, 1000])
    with np.errstate(over="ignore"):
        write_convert(args.out / "fp-convert.bin", make_convert_inputs(rng))
    print("fp-convert.bin written")


if __name__ == "__main__":
    main()
