#!/usr/bin/env python3
"""Writes a synthetic GGUF with Llama-2-7B attention shapes (32 heads x 128 dims, no GQA)
and random weights, for benchmarks where the KV cache dominates: few layers, a small
feed-forward and vocabulary so prefilling 16k tokens stays affordable on two cores.

  python tests/bench/make-synthetic-model.py OUT.gguf [--layers 2] [--type q8_0|q4_0|f16] [--ff 1024] [--vocab 4096]

Needs numpy and gguf (installer/setup.sh --dev). The weights are seeded noise scaled so
activations stay finite; the output text is meaningless by design.
"""
import argparse

import numpy as np
import gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--type", choices=["q8_0", "q4_0", "f16"], default="q8_0")
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--ctx", type=int, default=32768)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    n_embd, n_head, head_dim = 4096, 32, 128
    rng = np.random.default_rng(a.seed)
    qtype = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
             "f16": gguf.GGMLQuantizationType.F16}[a.type]

    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"synthetic llama2-7b-attention x{a.layers} ({a.type})")
    w.add_context_length(a.ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type({"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
                     "f16": gguf.LlamaFileType.MOSTLY_F16}[a.type])

    def matrix(name, rows, cols):
        m = (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float32)
        if qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, m.astype(np.float16))
        else:
            q = gguf.quants.quantize(m, qtype)  # byte rows; the writer derives the element shape
            w.add_tensor(name, q, raw_dtype=qtype)

    def norm(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    matrix("token_embd.weight", a.vocab, n_embd)
    norm("output_norm.weight", n_embd)
    matrix("output.weight", a.vocab, n_embd)
    for i in range(a.layers):
        b = f"blk.{i}."
        norm(b + "attn_norm.weight", n_embd)
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(b + t + ".weight", n_embd, n_embd)
        norm(b + "ffn_norm.weight", n_embd)
        matrix(b + "ffn_gate.weight", a.ff, n_embd)
        matrix(b + "ffn_up.weight", a.ff, n_embd)
        matrix(b + "ffn_down.weight", n_embd, a.ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(a.out)


if __name__ == "__main__":
    main()
