#!/usr/bin/env python3
"""Writes the corrupt-file corpus and the fuzzer seeds (standard library only).

  tests/data/corrupt/*.safetensors, *.gguf   hand-made broken files, each a few hundred bytes
  tests/data/corrupt/expected.json           file -> substring its parser's error must contain
  tests/fuzz/seeds/{gguf,safetensors}/       small valid files the fuzzers start from

The outputs are committed; rerun after changing a case:  python3 tests/tools/gen-corrupt-corpus.py
tests/io/test-corrupt-corpus.cpp opens every corpus file and checks its message.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORRUPT = os.path.join(ROOT, "tests", "data", "corrupt")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "seeds")

# --------------------------------------------------------------------------------------
# safetensors


def st_bytes(header, data=b"", length=None):
    """8-byte LE header length + header text (str or dict) + data."""
    text = header if isinstance(header, (bytes, str)) else json.dumps(header, separators=(",", ":"))
    if isinstance(text, str):
        text = text.encode("utf-8")
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def safetensors_cases():
    d24 = bytes(range(24))
    w = tensor("F32", [2, 3], 0, 24)
    return {
        "st-truncated-length.safetensors": (b"\x10\x00\x00\x00\x00", "truncated header length: file has 5 bytes"),
        "st-header-past-eof.safetensors": (st_bytes({"w": w}, d24, length=4096),
                                           "header length 4096 runs past end of file"),
        "st-header-over-limit.safetensors": (st_bytes("{}", length=1 << 40),
                                             "header length 1099511627776 is over the limit of 104857600 bytes"),
        "st-invalid-json.safetensors": (st_bytes('{"w":{"dtype":"F32","shape":[2,3],', d24), "header: invalid JSON"),
        "st-bad-utf8.safetensors": (st_bytes(b'{"w\xff\xfe":{}}', d24), "header: invalid JSON"),
        "st-non-object-header.safetensors": (st_bytes("[1,2,3]"), "header must be a JSON object, got an array"),
        "st-deep-nesting.safetensors": (st_bytes('{"w":' + "[" * 80 + "]" * 80 + "}"),
                                        "header: JSON nesting deeper than 64 levels"),
        "st-offsets-past-end.safetensors": (st_bytes({"w": tensor("F32", [4, 4], 0, 64)}, d24),
                                            "tensor 'w': data range [0, 64) past end of file (data section has 24 bytes)"),
        "st-begin-after-end.safetensors": (st_bytes({"w": tensor("F32", [0], 8, 4)}, d24),
                                           "tensor 'w': data_offsets begin 8 is after end 4"),
        "st-missing-offsets.safetensors": (st_bytes({"w": {"dtype": "F32", "shape": [2, 3]}}, d24),
                                           "tensor 'w': missing 'data_offsets'"),
        "st-overlap.safetensors": (st_bytes({"a": tensor("F32", [4], 0, 16), "b": tensor("F32", [4], 8, 24)}, d24),
                                   "tensors 'a' and 'b' overlap (bytes [0, 16) and [8, 24) of the data section)"),
        "st-size-mismatch.safetensors": (st_bytes({"w": tensor("F32", [2, 3], 0, 20)}, d24),
                                         "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets span 20"),
        "st-unknown-dtype.safetensors": (st_bytes({"w": tensor("Q4", [48], 0, 24)}, d24), "tensor 'w': unknown dtype 'Q4'"),
        "st-unsupported-dtype.safetensors": (st_bytes({"w": tensor("I64", [3], 0, 24)}, d24),
                                             "tensor 'w': unsupported dtype 'I64' (supported: F32, F16, BF16)"),
        "st-unsupported-f8.safetensors": (st_bytes({"w": tensor("F8_E4M3", [24], 0, 24)}, d24),
                                          "tensor 'w': unsupported dtype 'F8_E4M3'"),
        # json.dumps cannot write a duplicate key: spell the header by hand.
        "st-duplicate-name.safetensors": (st_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                                   '"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', d24),
                                          "duplicate tensor name 'w'"),
        "st-five-dims.safetensors": (st_bytes({"w": tensor("F32", [1, 1, 2, 1, 3], 0, 24)}, d24),
                                     "tensor 'w': 5 dimensions (supported: at most 4)"),
        "st-negative-dim.safetensors": (st_bytes({"w": tensor("F32", [-2, 3], 0, 24)}, d24),
                                        "tensor 'w': shape[0] is negative (-2)"),
        "st-huge-dim.safetensors": (st_bytes({"w": tensor("F32", [4294967296, 4294967296, 16], 0, 24)}, d24),
                                    "tensor 'w': shape [4294967296, 4294967296, 16] element count overflows 64 bits"),
        "st-byte-size-overflow.safetensors": (st_bytes({"w": tensor("F32", [1 << 62], 0, 24)}, d24),
                                              "tensor 'w': shape [4611686018427387904] byte size overflows 64 bits"),
        "st-dim-past-u64.safetensors": (st_bytes('{"w":{"dtype":"F32","shape":[100000000000000000000],'
                                                 '"data_offsets":[0,24]}}', d24),
                                        "tensor 'w': shape[0] is not a non-negative integer"),
        "st-metadata-not-string.safetensors": (st_bytes({"__metadata__": {"n": 3}, "w": w}, d24),
                                               "'__metadata__' key 'n' must be a string, got a number"),
    }


def safetensors_seeds():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    f16 = struct.pack("<4H", 0x3C00, 0x4000, 0x4200, 0x4400)
    bf16 = struct.pack("<2H", 0x3F80, 0x4000)
    header = {"__metadata__": {"format": "pt"},
              "w.f32": tensor("F32", [2, 3], 0, 24),
              "h.f16": tensor("F16", [4], 24, 32),
              "b.bf16": tensor("BF16", [1, 2, 1], 32, 36),
              "s": tensor("F32", [], 36, 40),
              "z": tensor("F16", [0, 3], 40, 40)}
    return {
        "valid-mixed.safetensors": st_bytes(header, f32 + f16 + bf16 + struct.pack("<f", 0.5)),
        "valid-empty.safetensors": st_bytes("{}"),
    }


# --------------------------------------------------------------------------------------
# GGUF (v3 layout; see gguf-file.h)

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


def g_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def g_val(vtype, value):
    fmt = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i", T_F32: "<f",
           T_BOOL: "<B", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
    if vtype == T_STR:
        return g_str(value)
    if vtype == T_ARR:
        elem_type, items = value
        return struct.pack("<IQ", elem_type, len(items)) + b"".join(g_val(elem_type, v) for v in items)
    return struct.pack(fmt[vtype], value)


def g_kv(key, vtype, value):
    return g_str(key) + struct.pack("<I", vtype) + g_val(vtype, value)


def g_tensor_info(name, ne, ggml_type, offset):
    return g_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + \
        struct.pack("<IQ", ggml_type, offset)


def gguf_bytes(kvs=(), tensors=(), data=b"", version=3, n_kv=None, n_tensors=None, align=32, raw_kv=None):
    """kvs: encoded kv blobs; tensors: encoded tensor infos. Counts may be overridden."""
    out = b"GGUF" + struct.pack("<I", version)
    out += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs) if raw_kv is None else raw_kv
    out += b"".join(tensors)
    if tensors:
        out += b"\0" * ((-len(out)) % align)
        out += data
    return out


def gguf_cases():
    arch = g_kv("general.architecture", T_STR, "llama")
    t32 = g_tensor_info("w", [4, 2], GGML_F32, 0)  # 32 bytes of F32
    d32 = bytes(32)
    good = gguf_bytes([arch], [t32], d32)
    nested = (T_U8, [1])
    for _ in range(6):
        nested = (T_ARR, [nested])
    return {
        "gguf-bad-magic.gguf": (b"GGUX" + good[4:], "not a GGUF file (bad magic)"),
        "gguf-version-1.gguf": (gguf_bytes([arch], version=1), "unsupported GGUF version 1 (supported: 2, 3)"),
        "gguf-version-99.gguf": (gguf_bytes([arch], version=99), "unsupported GGUF version 99"),
        "gguf-truncated-header.gguf": (good[:14], "truncated file: tensor count at offset 8 needs 8 bytes but only 6 remain"),
        "gguf-truncated-kv.gguf": (gguf_bytes([arch])[:24 + 8 + 10], "metadata key at offset 24 has length 20 but only 10 bytes follow (truncated file)"),
        "gguf-truncated-tensor-info.gguf": (gguf_bytes([arch], [t32], d32)[:24 + len(arch) + 8 + 1 + 4 + 8],
                                            "tensor 'w': truncated file: tensor dimension"),
        "gguf-string-past-eof.gguf": (gguf_bytes(raw_kv=g_str("general.name") + struct.pack("<IQ", T_STR, 5000) + b"abc",
                                                 n_kv=1),
                                      "metadata key 'general.name': string value at offset 48 has length 5000 but only 3 bytes follow"),
        "gguf-string-over-limit.gguf": (gguf_bytes(raw_kv=g_str("general.name") + struct.pack("<IQ", T_STR, 1 << 40),
                                                   n_kv=1),
                                        "has length 1099511627776, over the limit of"),
        "gguf-huge-array-count.gguf": (gguf_bytes(raw_kv=g_str("tokenizer.ggml.tokens") +
                                                  struct.pack("<IIQ", T_ARR, T_STR, 1 << 62), n_kv=1),
                                       "metadata key 'tokenizer.ggml.tokens': array of 4611686018427387904 items is over the limit"),
        "gguf-array-past-eof.gguf": (gguf_bytes(raw_kv=g_str("tokenizer.scores") + struct.pack("<IIQ", T_ARR, T_F32, 1000) +
                                                bytes(16), n_kv=1),
                                     "metadata key 'tokenizer.scores': array of 1000 items extends past the end of the file"),
        "gguf-nested-arrays.gguf": (gguf_bytes([g_kv("deep", T_ARR, nested)]), "arrays nested deeper than 4 levels"),
        "gguf-unknown-value-type.gguf": (gguf_bytes(raw_kv=g_str("odd") + struct.pack("<I", 13) + bytes(8), n_kv=1),
                                         "metadata key 'odd': unknown value type 13"),
        "gguf-unknown-array-type.gguf": (gguf_bytes(raw_kv=g_str("odd") + struct.pack("<IIQ", T_ARR, 77, 1) + bytes(8),
                                                    n_kv=1),
                                         "metadata key 'odd': unknown array element type 77"),
        "gguf-bad-bool.gguf": (gguf_bytes([g_kv("flag", T_BOOL, 2)]), "metadata key 'flag': bool value 2 is neither 0 nor 1"),
        "gguf-duplicate-key.gguf": (gguf_bytes([arch, g_kv("general.architecture", T_STR, "gemma3")]),
                                    "duplicate metadata key 'general.architecture'"),
        "gguf-unknown-tensor-type.gguf": (gguf_bytes([arch], [g_tensor_info("w", [4, 2], 99, 0)], d32),
                                          "tensor 'w': unknown tensor type 99"),
        "gguf-data-past-eof.gguf": (gguf_bytes([arch], [g_tensor_info("w", [64, 2], GGML_F32, 0)], d32),
                                    "tensor 'w': data range past end of file"),
        "gguf-misaligned-offset.gguf": (gguf_bytes([arch], [t32, g_tensor_info("v", [2], GGML_F32, 36)], bytes(64)),
                                        "tensor 'v': data offset 36 is not a multiple of the alignment 32"),
        "gguf-overlap.gguf": (gguf_bytes([arch], [t32, g_tensor_info("v", [8, 2], GGML_F32, 32),
                                                  g_tensor_info("u", [4], GGML_F32, 64)], bytes(128)),
                              "tensor 'u': data overlaps tensor 'v'"),
        "gguf-duplicate-tensor.gguf": (gguf_bytes([arch], [t32, g_tensor_info("w", [4], GGML_F32, 32)], bytes(64)),
                                       "duplicate tensor name 'w'"),
        "gguf-too-many-dims.gguf": (gguf_bytes([arch], [g_tensor_info("w", [2, 1, 1, 1, 2], GGML_F32, 0)], d32),
                                    "tensor 'w': 5 dimensions (supported: 1 to 4)"),
        "gguf-zero-dims.gguf": (gguf_bytes([arch], [g_tensor_info("w", [], GGML_F32, 0)], d32),
                                "tensor 'w': 0 dimensions"),
        "gguf-dim-overflow.gguf": (gguf_bytes([arch], [g_tensor_info("w", [1 << 32, 1 << 32, 2], GGML_F32, 0)], d32),
                                   "tensor 'w': element count overflows 64 bits"),
        "gguf-byte-size-overflow.gguf": (gguf_bytes([arch], [g_tensor_info("w", [1 << 62], GGML_F32, 0)], d32),
                                         "tensor 'w': byte size overflows 64 bits"),
        "gguf-zero-dim.gguf": (gguf_bytes([arch], [g_tensor_info("w", [4, 0], GGML_F32, 0)], d32),
                               "tensor 'w': dimension 1 is zero"),
        "gguf-block-mismatch.gguf": (gguf_bytes([arch], [g_tensor_info("w", [40, 1], GGML_Q8_0, 0)], bytes(64)),
                                     "tensor 'w': row length 40 is not a multiple of the Q8_0 block size 32"),
        "gguf-alignment-not-pow2.gguf": (gguf_bytes([arch, g_kv("general.alignment", T_U32, 48)], [t32], d32),
                                         "metadata key 'general.alignment' must be a power of two up to 1 MiB, got 48"),
        "gguf-alignment-zero.gguf": (gguf_bytes([arch, g_kv("general.alignment", T_U32, 0)], [t32], d32),
                                     "metadata key 'general.alignment' must be a power of two"),
        "gguf-tensor-count-over-limit.gguf": (gguf_bytes([arch], n_tensors=1 << 40),
                                              "tensor count 1099511627776 is over the limit of"),
        "gguf-kv-count-over-limit.gguf": (gguf_bytes([arch], n_kv=1 << 40),
                                          "metadata count 1099511627776 is over the limit of"),
    }


def gguf_seeds():
    arch = g_kv("general.architecture", T_STR, "llama")
    kvs = [arch, g_kv("llama.block_count", T_U32, 2), g_kv("llama.rope.freq_base", T_F32, 10000.0),
           g_kv("general.flag", T_BOOL, 1), g_kv("tokenizer.ggml.tokens", T_ARR, (T_STR, ["<s>", "</s>", "a"])),
           g_kv("tokenizer.ggml.scores", T_ARR, (T_F32, [0.0, -1.0, -2.5])),
           g_kv("nested", T_ARR, (T_ARR, [(T_I32, [1, 2]), (T_I32, [3])]))]
    tensors = [g_tensor_info("token_embd.weight", [4, 3], GGML_F32, 0),
               g_tensor_info("blk.0.attn_q.weight", [4, 4], GGML_F16, 64),
               g_tensor_info("blk.0.ffn_up.weight", [32, 1], GGML_Q8_0, 96)]
    return {
        "valid-small.gguf": gguf_bytes(kvs, tensors, bytes(range(48)) + bytes(16) + bytes(32) + bytes(34)),
        "valid-metadata-only.gguf": gguf_bytes([arch]),
    }


# --------------------------------------------------------------------------------------


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    os.makedirs(CORRUPT, exist_ok=True)
    for name in os.listdir(CORRUPT):  # drop cases that no longer exist
        if name.endswith((".gguf", ".safetensors")):
            os.remove(os.path.join(CORRUPT, name))
    expected = {}
    for name, (data, want) in {**safetensors_cases(), **gguf_cases()}.items():
        write(os.path.join(CORRUPT, name), data)
        expected[name] = want
    with open(os.path.join(CORRUPT, "expected.json"), "w") as f:
        json.dump(dict(sorted(expected.items())), f, indent=2)
        f.write("\n")
    for kind, seeds in (("safetensors", safetensors_seeds()), ("gguf", gguf_seeds())):
        for name, data in seeds.items():
            write(os.path.join(SEEDS, kind, name), data)
    print(f"wrote {len(expected)} corrupt files to {CORRUPT} and seeds to {SEEDS}", file=sys.stderr)


if __name__ == "__main__":
    main()
