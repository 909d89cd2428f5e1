#!/usr/bin/env python3
"""Generate the tiny random-weight test models under tests/data/models/.

What it writes (all deterministic: fixed seeds, single-threaded tokenizer training):

  tokenizers/llama-spm.model   tiny SentencePiece BPE (Llama-2 style: <unk>=0 <s>=1 </s>=2,
                               add_dummy_prefix on)
  tokenizers/gemma-spm.model   tiny SentencePiece BPE (Gemma style: <pad>=0 <eos>=1 <bos>=2
                               <unk>=3, <start_of_turn>/<end_of_turn> user-defined,
                               add_dummy_prefix off)
  <model>/                     Hugging Face folders: config.json, tokenizer.model,
                               tokenizer_config.json, model*.safetensors (+ index when sharded)
  <model>-<type>.gguf          GGUF conversions (llama.cpp naming and metadata conventions)
  MANIFEST.json                facts read back from every fixture (for `kvmix info` tests)
  tokenizer-goldens.json       token ids from the Python sentencepiece library
  logit-goldens.json           float32 logits + greedy tokens from Hugging Face transformers
                               (only with --logits / when torch + transformers are importable)

Tokenizer training text: the Debian license texts /usr/share/common-licenses/GPL-3 and
/usr/share/common-licenses/Apache-2.0, read at generation time (only the trained models are
committed; their sha256 is recorded in MANIFEST.json).

Conventions applied when converting to GGUF (facts taken from llama.cpp's HF converter):
  * llama/mistral: attn_q / attn_k rows are permuted from the HF "rotate-half" RoPE layout to
    the interleaved-pair layout GGUF llama expects: per head, reshape the rows as
    (2, head_dim/2) and transpose to (head_dim/2, 2). K uses n_head_kv heads.
  * gemma3: no Q/K permutation (gemma3 uses NeoX-style RoPE); every "*norm.weight" is stored
    as (1 + w) because HF's Gemma3RMSNorm multiplies by (1 + weight) while GGUF stores the
    effective multiplier. token_embd is tied (no output.weight).
  * qwen2 / qwen3: no Q/K permutation (llama.cpp rotates both NeoX-style) and norms stored as
    they are (Qwen's RMSNorm, q_norm / k_norm included, multiplies by the weight itself).
    Qwen2's q/k/v projection biases become blk.N.attn_{q,k,v}.bias (F32); qwen3 writes
    attention.key_length / value_length because its head_dim differs from n_embd / n_head.
    The Qwen fixtures carry the llama-spm SentencePiece vocabulary (the tests feed token ids;
    real Qwen models use a byte-level BPE vocabulary).
  * llama3 rope scaling: no rope.scaling.* keys; a rope_freqs.weight F32 tensor of head_dim/2
    per-frequency divisors is written, as llama.cpp's converter does.
  * tensor shapes: GGUF ne[0] is the innermost (column) dimension, i.e. HF [out, in] becomes
    ne = [in, out] (gguf-py reverses numpy shapes itself).
  * 1-D tensors stay F32; Q8_0 / Q4_K only for 2-D tensors whose row length is a multiple of
    the block size (32 / 256), else F16.

Usage (from the repository root, with a venv holding tests/tools/requirements.txt):
  python tests/tools/gen-tiny-models.py            # fixtures + tokenizer goldens (+ logits if torch)
  python tests/tools/gen-tiny-models.py --logits   # require torch/transformers, write logit goldens
  python tests/tools/gen-tiny-models.py --logits-only   # recompute logit goldens only
  python tests/tools/gen-tiny-models.py --no-logits     # never import torch
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

GENERATOR_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "data" / "models"

TRAINING_TEXT = [
    "/usr/share/common-licenses/GPL-3",
    "/usr/share/common-licenses/Apache-2.0",
]

VOCAB_SIZE = 512

TOKENIZERS = {
    "llama-spm": dict(
        add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
        user_defined_symbols=[],
    ),
    "gemma-spm": dict(
        add_dummy_prefix=False,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
    ),
}

# Chat templates written for these fixtures (formats in the style of the families; the
# exact strings are ours).
LLAMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + message['content'] | trim + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

# ---------------------------------------------------------------------------------------------
# Model specifications
# ---------------------------------------------------------------------------------------------
# hf: list of Hugging Face folders to write: (folder, dtype, shards)
# gguf: list of GGUF types to write (converted from the first HF folder's stored weights, or
#       from the float32 master weights when there is no HF folder)
MODELS = [
    dict(
        name="tiny-llama", arch="llama", tokenizer="llama-spm", seed=1001,
        hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128,
        rope_theta=10000.0, rope_scaling=None, rms_eps=1e-5, ctx=256, tied=False,
        sliding_window=None, chat_template=LLAMA_CHAT_TEMPLATE,
        hf=[("tiny-llama-bf16-sharded", "BF16", 2)],
        gguf=["F16", "Q8_0"],
    ),
    dict(
        # Llama 3.2 style: tied embeddings, llama3 rope scaling (original context 64 so that the
        # three frequency bands -- unscaled, smoothed, fully scaled -- all occur at head_dim 16).
        name="tiny-llama3", arch="llama", tokenizer="llama-spm", seed=1002,
        hidden=64, layers=1, heads=4, kv_heads=2, head_dim=16, ff=128,
        rope_theta=10000.0,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64),
        rms_eps=1e-5, ctx=256, tied=True, sliding_window=None, chat_template=None, branch_gain=2.0,
        hf=[("tiny-llama3-f32", "F32", 1)],
        gguf=["F32"],
    ),
    dict(
        name="tiny-mistral", arch="mistral", tokenizer="llama-spm", seed=1003,
        hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128,
        rope_theta=10000.0, rope_scaling=None, rms_eps=1e-5, ctx=256, tied=False,
        sliding_window=16, chat_template=None,
        hf=[("tiny-mistral-f16", "F16", 1)],
        gguf=["Q8_0"],
    ),
    dict(
        # 6 layers with sliding_window_pattern 6: layers 0-4 sliding (window 16), layer 5 global.
        # head_dim 32 != hidden/heads to exercise the decoupled head size; 4 query heads, 1 kv head.
        name="tiny-gemma3", arch="gemma3", tokenizer="gemma-spm", seed=1004,
        hidden=64, layers=6, heads=4, kv_heads=1, head_dim=32, ff=64,
        rope_theta=1000000.0, rope_local_base_freq=10000.0, rope_scaling=None, rms_eps=1e-6,
        ctx=256, tied=True, sliding_window=16, sliding_window_pattern=6, post_norm_center=2.0,
        chat_template=GEMMA_CHAT_TEMPLATE,
        hf=[("tiny-gemma3-bf16", "BF16", 1)],
        gguf=["Q8_0"],
    ),
    dict(
        # Qwen2.5-0.5B style: q/k/v biases (the k bias larger, as in trained Qwen models), tied
        # embeddings, no head_dim key. config.json names a sliding window of 16 with
        # use_sliding_window false: transformers then attends fully, and so must we (the
        # prompts plus greedy steps run past 16 tokens).
        name="tiny-qwen2", arch="qwen2", tokenizer="llama-spm", seed=1006,
        hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128,
        rope_theta=1000000.0, rope_scaling=None, rms_eps=1e-6, ctx=256, tied=True,
        sliding_window=16, use_sliding_window=False, max_window_layers=1, chat_template=None,
        branch_gain=2.0, bias_std=(0.5, 1.0, 0.5),
        hf=[("tiny-qwen2-bf16", "BF16", 1)],
        gguf=["Q8_0"],
    ),
    dict(
        # Qwen3 style: per-head q_norm / k_norm (plain multipliers) before RoPE, no biases,
        # head_dim 32 != hidden / heads = 16, untied output head.
        name="tiny-qwen3", arch="qwen3", tokenizer="llama-spm", seed=1007,
        hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, ff=128,
        rope_theta=1000000.0, rope_scaling=None, rms_eps=1e-6, ctx=256, tied=False,
        sliding_window=None, use_sliding_window=False, max_window_layers=2, chat_template=None,
        hf=[("tiny-qwen3-bf16", "BF16", 1)],
        gguf=["Q8_0"],
    ),
    dict(
        # Only as GGUF: row lengths 256 so that every matrix can be Q4_K (super-block 256).
        name="tiny-llama256", arch="llama", tokenizer="llama-spm", seed=1005,
        hidden=256, layers=1, heads=4, kv_heads=2, head_dim=64, ff=256,
        rope_theta=10000.0, rope_scaling=None, rms_eps=1e-5, ctx=256, tied=True,
        sliding_window=None, chat_template=LLAMA_CHAT_TEMPLATE, branch_gain=2.0,
        hf=[],
        gguf=["Q4_K"],
    ),
]

# Fixed prompts for the logit goldens (token ids come from each model's tokenizer, with BOS).
LOGIT_PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Permission is granted to run 42 copies of this small program, provided that every copy "
    "keeps its notice intact and nobody claims any warranty for it.",
]
N_GREEDY = 64

TOKENIZER_GOLDEN_STRINGS = [
    "",
    " ",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading, trailing  and   repeated spaces  ",
    "\ttabs\tand\nnew\nlines\n\n",
    "1234567890 and 3.14159 and 2024-06-01",
    "This program is free software: you can redistribute it and/or modify it.",
    "naïve café — déjà vu, Œuvre, Straße",
    "日本語のテキスト 한국어 русский",
    "emoji 🙂🚀 and symbols ©®™ ∑∫",
    "<s> and </s> are literal here",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def round6(x: float) -> float:
    return float(f"{float(x):.6g}")


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (no NaNs occur here)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounding = ((u >> 16) & 1) + np.uint32(0x7FFF)
    return ((u + rounding) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------
def training_lines() -> list[str]:
    lines: list[str] = []
    for p in TRAINING_TEXT:
        text = Path(p).read_text(encoding="utf-8")
        lines.extend(line for line in text.splitlines() if line.strip())
    return lines


def train_tokenizer(name: str, lines: list[str]) -> bytes:
    import sentencepiece as spm

    opts = dict(TOKENIZERS[name])
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        split_by_unicode_script=True,
        split_by_whitespace=True,
        allow_whitespace_only_pieces=True,
        character_coverage=1.0,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=1,
        max_sentence_length=16384,
        minloglevel=2,
        **opts,
    )
    return buf.getvalue()


def load_sp(path: Path):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.LoadFromFile(str(path))
    return sp


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def _skip_field(buf: bytes, i: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, i)[1]
    if wire == 1:
        return i + 8
    if wire == 2:
        n, i = _varint(buf, i)
        return i + n
    if wire == 5:
        return i + 4
    raise ValueError(f"protobuf wire type {wire}")


def sp_proto_pieces(data: bytes) -> list[tuple[bytes, float, int]]:
    """(piece, score, type) from a SentencePiece ModelProto (field 1 = repeated SentencePiece
    {1: piece, 2: score, 3: type}); piece types use the same numbers as GGUF token types."""
    pieces = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 2:
            n, i = _varint(data, i)
            sub, i = data[i:i + n], i + n
            piece, score, ptype = b"", 0.0, 1
            j = 0
            while j < len(sub):
                k2, j = _varint(sub, j)
                f2, w2 = k2 >> 3, k2 & 7
                if f2 == 1 and w2 == 2:
                    m, j = _varint(sub, j)
                    piece, j = sub[j:j + m], j + m
                elif f2 == 2 and w2 == 5:
                    (score,) = struct.unpack_from("<f", sub, j)
                    j += 4
                elif f2 == 3 and w2 == 0:
                    ptype, j = _varint(sub, j)
                else:
                    j = _skip_field(sub, j, w2)
            pieces.append((piece, score, ptype))
        else:
            i = _skip_field(data, i, wire)
    return pieces


def sp_vocab(path: Path):
    """tokens, scores, token types for GGUF, cross-checked against the sentencepiece library."""
    sp = load_sp(path)
    pieces = sp_proto_pieces(path.read_bytes())
    assert len(pieces) == sp.vocab_size()
    tokens, scores, types = [], [], []
    for i, (piece, score, ptype) in enumerate(pieces):
        assert piece.decode("utf-8") == sp.IdToPiece(i)
        assert abs(score - sp.GetScore(i)) <= 1e-6 * max(1.0, abs(score))
        assert (ptype == 2) == sp.IsUnknown(i) and (ptype == 3) == sp.IsControl(i)
        assert (ptype == 6) == sp.IsByte(i) and (ptype == 5) == sp.IsUnused(i)
        tokens.append(piece)
        scores.append(float(sp.GetScore(i)))
        types.append(int(gguf.TokenType(ptype)))
    return tokens, scores, types


def tokenizer_goldens(tok_paths: dict[str, Path]) -> dict:
    out = {"generator_version": GENERATOR_VERSION,
           "note": "ids from sentencepiece.SentencePieceProcessor.Encode(text) (no BOS/EOS added); "
                   "decoded = Decode(ids)",
           "tokenizers": {}}
    for name, path in tok_paths.items():
        sp = load_sp(path)
        cases = []
        for s in TOKENIZER_GOLDEN_STRINGS:
            ids = sp.Encode(s)
            cases.append({"text": s, "ids": ids, "pieces": [sp.IdToPiece(i) for i in ids],
                          "decoded": sp.Decode(ids)})
        out["tokenizers"][name] = {
            "file": f"tokenizers/{name}.model",
            "vocab_size": sp.vocab_size(),
            "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(), "pad_id": sp.pad_id(),
            "add_dummy_prefix": TOKENIZERS[name]["add_dummy_prefix"],
            "cases": cases,
        }
    return out


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
def make_weights(spec: dict, n_vocab: int) -> dict[str, np.ndarray]:
    """float32 master weights with Hugging Face names and shapes ([out, in] for linears)."""
    rng = np.random.default_rng(spec["seed"])
    H, L, nh, nkv, hd, F = (spec["hidden"], spec["layers"], spec["heads"], spec["kv_heads"],
                            spec["head_dim"], spec["ff"])
    gemma = spec["arch"] == "gemma3"
    qk_norm = spec["arch"] in ("gemma3", "qwen3")

    def lin(out_f: int, in_f: int, gain: float = 1.0) -> np.ndarray:
        return (rng.standard_normal((out_f, in_f)) * (gain / math.sqrt(in_f))).astype(np.float32)

    def norm(n: int, center: float = 1.0, std: float = 0.1) -> np.ndarray:
        # multiplier = center + noise; Gemma stores w with the multiplier being (1 + w), Llama
        # stores the multiplier itself.
        m = center + std * rng.standard_normal(n)
        return (m - 1.0 if gemma else m).astype(np.float32)

    # With tied embeddings the logit of the current input token is boosted by its own embedding
    # in the residual stream (e . e), and greedy decoding just repeats tokens. Tied models
    # therefore get a final norm whose multipliers have mixed signs (centre 0, std 1), which
    # removes that bias, and optionally a gain on the residual branches.
    g = spec.get("branch_gain", 1.0)
    post = spec.get("post_norm_center", 1.0)
    final_center, final_std = (0.0, 1.0) if spec["tied"] else (1.0, 0.1)

    # embeddings with std 4/sqrt(H) so that (tied) logits have a spread of about 4
    emb_std = 4.0 / math.sqrt(H)
    w: dict[str, np.ndarray] = {}
    w["model.embed_tokens.weight"] = (emb_std * rng.standard_normal((n_vocab, H))).astype(np.float32)
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(H)
        w[p + "self_attn.q_proj.weight"] = lin(nh * hd, H)
        w[p + "self_attn.k_proj.weight"] = lin(nkv * hd, H)
        w[p + "self_attn.v_proj.weight"] = lin(nkv * hd, H)
        w[p + "self_attn.o_proj.weight"] = lin(H, nh * hd, g)
        if spec["arch"] == "qwen2":
            for proj, rows, std in zip(("q", "k", "v"), (nh * hd, nkv * hd, nkv * hd), spec["bias_std"]):
                w[p + f"self_attn.{proj}_proj.bias"] = (std * rng.standard_normal(rows)).astype(np.float32)
        if qk_norm:
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(H, post if gemma else 1.0)
        if gemma:
            w[p + "pre_feedforward_layernorm.weight"] = norm(H)
            w[p + "post_feedforward_layernorm.weight"] = norm(H, post)
        w[p + "mlp.gate_proj.weight"] = lin(F, H)
        w[p + "mlp.up_proj.weight"] = lin(F, H)
        w[p + "mlp.down_proj.weight"] = lin(H, F, g)
    w["model.norm.weight"] = norm(H, final_center, final_std)
    if not spec["tied"]:
        w["lm_head.weight"] = (emb_std * rng.standard_normal((n_vocab, H))).astype(np.float32)
    return w


def hf_config(spec: dict, n_vocab: int, sp_ids: dict, dtype: str) -> dict:
    torch_dtype = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    arch = spec["arch"]
    if arch in ("llama", "mistral"):
        cfg = {
            "architectures": ["LlamaForCausalLM" if arch == "llama" else "MistralForCausalLM"],
            "model_type": arch,
            "vocab_size": n_vocab,
            "hidden_size": spec["hidden"],
            "intermediate_size": spec["ff"],
            "num_hidden_layers": spec["layers"],
            "num_attention_heads": spec["heads"],
            "num_key_value_heads": spec["kv_heads"],
            "head_dim": spec["head_dim"],
            "hidden_act": "silu",
            "max_position_embeddings": spec["ctx"],
            "rms_norm_eps": spec["rms_eps"],
            "rope_theta": spec["rope_theta"],
            "rope_scaling": spec["rope_scaling"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "tie_word_embeddings": spec["tied"],
            "bos_token_id": sp_ids["bos"],
            "eos_token_id": sp_ids["eos"],
            "initializer_range": 0.02,
            "use_cache": True,
            "torch_dtype": torch_dtype,
        }
        if arch == "llama":
            cfg["mlp_bias"] = False
            cfg["pretraining_tp"] = 1
        else:
            cfg["sliding_window"] = spec["sliding_window"]
        return cfg
    if arch in ("qwen2", "qwen3"):
        cfg = {
            "architectures": ["Qwen2ForCausalLM" if arch == "qwen2" else "Qwen3ForCausalLM"],
            "model_type": arch,
            "vocab_size": n_vocab,
            "hidden_size": spec["hidden"],
            "intermediate_size": spec["ff"],
            "num_hidden_layers": spec["layers"],
            "num_attention_heads": spec["heads"],
            "num_key_value_heads": spec["kv_heads"],
        }
        if arch == "qwen3":
            cfg["head_dim"] = spec["head_dim"]
            cfg["attention_bias"] = False
        cfg.update({
            "hidden_act": "silu",
            "max_position_embeddings": spec["ctx"],
            "rms_norm_eps": spec["rms_eps"],
            "rope_theta": spec["rope_theta"],
            "rope_scaling": spec["rope_scaling"],
            "use_sliding_window": spec["use_sliding_window"],
            "sliding_window": spec["sliding_window"],
            "max_window_layers": spec["max_window_layers"],
            "attention_dropout": 0.0,
            "tie_word_embeddings": spec["tied"],
            "bos_token_id": sp_ids["bos"],
            "eos_token_id": sp_ids["eos"],
            "initializer_range": 0.02,
            "use_cache": True,
            "torch_dtype": torch_dtype,
        })
        return cfg
    assert arch == "gemma3"
    pattern = spec["sliding_window_pattern"]
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": n_vocab,
        "hidden_size": spec["hidden"],
        "intermediate_size": spec["ff"],
        "num_hidden_layers": spec["layers"],
        "num_attention_heads": spec["heads"],
        "num_key_value_heads": spec["kv_heads"],
        "head_dim": spec["head_dim"],
        "query_pre_attn_scalar": spec["head_dim"],
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": spec["ctx"],
        "rms_norm_eps": spec["rms_eps"],
        "rope_theta": spec["rope_theta"],
        "rope_local_base_freq": spec["rope_local_base_freq"],
        "rope_scaling": None,
        "sliding_window": spec["sliding_window"],
        "sliding_window_pattern": pattern,
        "layer_types": gemma_layer_types(spec),
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
        "bos_token_id": sp_ids["bos"],
        "eos_token_id": sp_ids["eos"],
        "pad_token_id": sp_ids["pad"],
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": torch_dtype,
    }


def gemma_layer_types(spec: dict) -> list[str]:
    # Hugging Face semantics of sliding_window_pattern p: layer i is global iff (i + 1) % p == 0.
    p = spec["sliding_window_pattern"]
    return ["sliding_attention" if (i + 1) % p else "full_attention" for i in range(spec["layers"])]


def tokenizer_config(spec: dict, sp) -> dict:
    cfg = {
        "tokenizer_class": "GemmaTokenizer" if spec["arch"] == "gemma3" else "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": sp.IdToPiece(sp.bos_id()),
        "eos_token": sp.IdToPiece(sp.eos_id()),
        "unk_token": sp.IdToPiece(sp.unk_id()),
        "model_max_length": spec["ctx"],
    }
    if sp.pad_id() >= 0:
        cfg["pad_token"] = sp.IdToPiece(sp.pad_id())
    if spec["chat_template"]:
        cfg["chat_template"] = spec["chat_template"]
    return cfg


# ---------------------------------------------------------------------------------------------
# safetensors (written by hand: numpy has no bfloat16)
# ---------------------------------------------------------------------------------------------
def store_dtype(a: np.ndarray, dtype: str) -> tuple[bytes, np.ndarray]:
    """-> (raw little-endian bytes, the float32 values those bytes represent)."""
    if dtype == "F32":
        s = np.ascontiguousarray(a, dtype="<f4")
        return s.tobytes(), s.astype(np.float32)
    if dtype == "F16":
        s = np.ascontiguousarray(a, dtype="<f2")
        return s.tobytes(), s.astype(np.float32)
    if dtype == "BF16":
        b = f32_to_bf16_bits(a)
        return b.astype("<u2").tobytes(), bf16_bits_to_f32(b).reshape(a.shape)
    raise ValueError(dtype)


def write_safetensors(path: Path, entries: list[tuple[str, str, tuple, bytes]]) -> None:
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, raw in entries:
            f.write(raw)


def read_safetensors(path: Path) -> dict[str, tuple[str, tuple, np.ndarray]]:
    """-> name: (dtype, shape, float32 values)."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "F32":
            v = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            v = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            v = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(dt)
        out[name] = (dt, shape, v.reshape(shape))
    return out


def ordered_names(weights: dict[str, np.ndarray]) -> list[str]:
    def key(n: str):
        parts = n.split(".")
        if n.startswith("model.layers."):
            return (1, int(parts[2]), n)
        if n.startswith("model.embed_tokens"):
            return (0, 0, n)
        return (2, 0, n)
    return sorted(weights, key=key)


def write_hf_folder(folder: Path, spec: dict, weights: dict[str, np.ndarray], dtype: str, shards: int,
                    tok_path: Path, sp, n_vocab: int, sp_ids: dict) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", hf_config(spec, n_vocab, sp_ids, dtype))
    write_json(folder / "tokenizer_config.json", tokenizer_config(spec, sp))
    shutil.copyfile(tok_path, folder / "tokenizer.model")
    stored: dict[str, np.ndarray] = {}
    entries = []
    for name in ordered_names(weights):
        raw, vals = store_dtype(weights[name], dtype)
        stored[name] = vals
        entries.append((name, dtype, weights[name].shape, raw))
    if shards == 1:
        write_safetensors(folder / "model.safetensors", entries)
    else:
        # split by layer so that each shard holds whole layers (embeddings in the first,
        # final norm / lm_head in the last)
        L = spec["layers"]
        per = math.ceil(L / shards)
        groups: list[list] = [[] for _ in range(shards)]
        for e in entries:
            n = e[0]
            if n.startswith("model.layers."):
                s = min(int(n.split(".")[2]) // per, shards - 1)
            elif n.startswith("model.embed_tokens"):
                s = 0
            else:
                s = shards - 1
            groups[s].append(e)
        weight_map = {}
        total = 0
        for s, g in enumerate(groups):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            write_safetensors(folder / fname, g)
            for e in g:
                weight_map[e[0]] = fname
                total += len(e[3])
        write_json(folder / "model.safetensors.index.json",
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    return stored


def read_hf_folder(folder: Path) -> dict[str, tuple[str, tuple, np.ndarray]]:
    idx = folder / "model.safetensors.index.json"
    out = {}
    if idx.exists():
        files = sorted(set(json.loads(idx.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for f in files:
        out.update(read_safetensors(folder / f))
    return out


# ---------------------------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------------------------
def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """Q4_K super-blocks of 256 values, 144 bytes each:
         d (fp16), dmin (fp16), 12 bytes of packed 6-bit sub-block scales/mins, 128 bytes of nibbles.
       value = d * sc[j] * q - dmin * m[j] for sub-block j (8 sub-blocks of 32), q in 0..15.
       Scale/min packing (sc, m are 6-bit, j = 0..7):
         bytes 0..3 : sc[j] (low 6 bits) | top 2 bits of sc[j+4] in bits 6..7
         bytes 4..7 : m[j]  (low 6 bits) | top 2 bits of m[j+4]  in bits 6..7
         bytes 8..11: low 4 bits of sc[j+4] | low 4 bits of m[j+4] << 4
       Nibbles: byte 32*k + l holds sub-block 2k element l (low) and sub-block 2k+1 element l (high).
       A plain min/max fit per sub-block (no iterative search)."""
    rows, cols = x.shape
    assert cols % 256 == 0
    blk = x.astype(np.float32).reshape(-1, 8, 32)
    nb = blk.shape[0]
    lo = np.minimum(blk.min(axis=-1), 0.0)          # (nb, 8) <= 0
    hi = blk.max(axis=-1)
    scale = (hi - lo) / 15.0                         # >= 0
    mins = -lo                                       # >= 0
    d = (scale.max(axis=-1) / 63.0).astype(np.float16)
    dmin = (mins.max(axis=-1) / 63.0).astype(np.float16)
    d32 = d.astype(np.float32)[:, None]
    dm32 = dmin.astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32 > 0, np.rint(scale / d32), 0).clip(0, 63).astype(np.uint8)
        m = np.where(dm32 > 0, np.rint(mins / dm32), 0).clip(0, 63).astype(np.uint8)
        eff_s = (d32 * sc.astype(np.float32))[..., None]
        eff_m = (dm32 * m.astype(np.float32))[..., None]
        q = np.where(eff_s > 0, np.rint((blk + eff_m) / eff_s), 0).clip(0, 15).astype(np.uint8)
    scales = np.zeros((nb, 12), dtype=np.uint8)
    scales[:, 0:4] = (sc[:, 0:4] & 0x3F) | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = (m[:, 0:4] & 0x3F) | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(nb, 128)
    out = np.concatenate([d.reshape(nb, 1).view(np.uint8), dmin.reshape(nb, 1).view(np.uint8), scales, qs],
                         axis=1)
    assert out.shape == (nb, 144)
    return out.reshape(rows, (cols // 256) * 144)


def check_q4_k_roundtrip() -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((8, 512)) * 0.3 + rng.standard_normal((8, 1)) * 0.05).astype(np.float32)
    q = quantize_q4_k(x)
    y = gguf.quants.dequantize(q, QT.Q4_K)
    assert y.shape == x.shape, (y.shape, x.shape)
    rel = float(np.sqrt(np.mean((y - x) ** 2)) / np.sqrt(np.mean(x ** 2)))
    assert rel < 0.12, f"Q4_K round trip relative RMS error {rel}"


def gguf_tensor_type(arr: np.ndarray, target: str) -> QT:
    if arr.ndim == 1 or target == "F32":
        return QT.F32
    if target == "F16":
        return QT.F16
    if target == "Q8_0":
        return QT.Q8_0 if arr.shape[-1] % 32 == 0 else QT.F16
    if target == "Q4_K":
        if arr.shape[-1] % 256 == 0:
            return QT.Q4_K
        return QT.Q8_0 if arr.shape[-1] % 32 == 0 else QT.F16
    raise ValueError(target)


FILE_TYPES = {"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
              "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "Q4_K": gguf.LlamaFileType.MOSTLY_Q4_K_S}


# ---------------------------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------------------------
def permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotate-half row order -> GGUF llama interleaved-pair row order (per head)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_to_gguf_name(hf: str, arch: str) -> str:
    T = gguf.MODEL_TENSOR
    names = gguf.TENSOR_NAMES
    if hf == "model.embed_tokens.weight":
        return names[T.TOKEN_EMBD] + ".weight"
    if hf == "model.norm.weight":
        return names[T.OUTPUT_NORM] + ".weight"
    if hf == "lm_head.weight":
        return names[T.OUTPUT] + ".weight"
    parts = hf.split(".")
    bid = int(parts[2])
    module, suffix = ".".join(parts[3:-1]), parts[-1]  # suffix: "weight" or "bias"
    table = {
        "input_layernorm": T.ATTN_NORM,
        "self_attn.q_proj": T.ATTN_Q,
        "self_attn.k_proj": T.ATTN_K,
        "self_attn.v_proj": T.ATTN_V,
        "self_attn.o_proj": T.ATTN_OUT,
        "self_attn.q_norm": T.ATTN_Q_NORM,
        "self_attn.k_norm": T.ATTN_K_NORM,
        "mlp.gate_proj": T.FFN_GATE,
        "mlp.up_proj": T.FFN_UP,
        "mlp.down_proj": T.FFN_DOWN,
        "pre_feedforward_layernorm": T.FFN_PRE_NORM,
        "post_feedforward_layernorm": T.FFN_POST_NORM,
    }
    if module == "post_attention_layernorm":
        t = T.ATTN_POST_NORM if arch == "gemma3" else T.FFN_NORM
    else:
        t = table[module]
    return names[t].format(bid=bid) + "." + suffix


def llama3_rope_factors(spec: dict) -> np.ndarray:
    rs = spec["rope_scaling"]
    dim = spec["head_dim"]
    base = spec["rope_theta"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    factor, lo_f, hi_f = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    lo_wav, hi_wav = old_ctx / lo_f, old_ctx / hi_f
    out = []
    for f in freqs:
        wav = 2 * math.pi / f
        if wav < hi_wav:
            out.append(1.0)
        elif wav > lo_wav:
            out.append(factor)
        else:
            smooth = (old_ctx / wav - lo_f) / (hi_f - lo_f)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_gguf(path: Path, spec: dict, weights: dict[str, np.ndarray], target: str, sp, tok_path: Path,
               n_vocab: int) -> None:
    arch = spec["arch"]
    garch = "llama" if arch == "mistral" else arch
    w = gguf.GGUFWriter(str(path), garch)
    w.add_name(f"{spec['name']}-{target.lower()}")
    w.add_file_type(int(FILE_TYPES[target]))
    if target in ("Q8_0", "Q4_K"):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(spec["ctx"])
    w.add_embedding_length(spec["hidden"])
    w.add_block_count(spec["layers"])
    w.add_feed_forward_length(spec["ff"])
    w.add_head_count(spec["heads"])
    w.add_head_count_kv(spec["kv_heads"])
    w.add_layer_norm_rms_eps(spec["rms_eps"])
    w.add_rope_freq_base(spec["rope_theta"])
    if garch == "llama":
        w.add_vocab_size(n_vocab)
        w.add_rope_dimension_count(spec["head_dim"])
        if spec["sliding_window"]:
            w.add_sliding_window(spec["sliding_window"])
    elif garch == "qwen2":
        pass  # llama.cpp's converter writes no head size (n_embd / n_head) and no sliding window
    elif garch == "qwen3":
        w.add_key_length(spec["head_dim"])
        w.add_value_length(spec["head_dim"])
    else:
        w.add_key_length(spec["head_dim"])
        w.add_value_length(spec["head_dim"])
        w.add_sliding_window(spec["sliding_window"])

    tokens, scores, types = sp_vocab(tok_path)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    if sp.pad_id() >= 0:
        w.add_pad_token_id(sp.pad_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(TOKENIZERS[spec["tokenizer"]]["add_dummy_prefix"])
    if spec["chat_template"]:
        w.add_chat_template(spec["chat_template"])

    if arch != "gemma3" and spec["rope_scaling"] and spec["rope_scaling"]["rope_type"] == "llama3":
        w.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", llama3_rope_factors(spec))

    for hf in ordered_names(weights):
        a = weights[hf].astype(np.float32)
        if garch == "llama":
            if hf.endswith("self_attn.q_proj.weight"):
                a = permute_rope(a, spec["heads"])
            elif hf.endswith("self_attn.k_proj.weight"):
                a = permute_rope(a, spec["kv_heads"])
        elif garch == "gemma3" and hf.endswith("norm.weight"):
            a = a + np.float32(1.0)
        qt = gguf_tensor_type(a, target)
        name = hf_to_gguf_name(hf, arch)
        if qt == QT.F32:
            w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
        elif qt == QT.F16:
            w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float16))
        elif qt == QT.Q8_0:
            w.add_tensor(name, gguf.quants.quantize(a, QT.Q8_0), raw_dtype=QT.Q8_0)
        elif qt == QT.Q4_K:
            w.add_tensor(name, quantize_q4_k(a), raw_dtype=QT.Q4_K)
        else:
            raise AssertionError(qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        return len(f.data)
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode("utf-8")
    v = v.tolist()
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def read_gguf_weights(path: Path, spec: dict) -> dict[str, np.ndarray]:
    """GGUF -> float32 Hugging Face weights (dequantized, llama Q/K un-permuted, Gemma norms minus 1)."""
    reader = gguf.GGUFReader(str(path))
    arch = spec["arch"]
    back = {}
    names = set()
    for t in reader.tensors:
        names.add(t.name)
        back[t.name] = gguf.quants.dequantize(t.data, QT(int(t.tensor_type))).astype(np.float32)
    n_vocab = back["token_embd.weight"].shape[0]
    ref = make_weights(spec, n_vocab)  # only for the name list
    out = {}
    for hf in ref:
        g = hf_to_gguf_name(hf, arch)
        if g not in back:
            raise KeyError(f"{path.name}: missing {g}")
        a = back[g].reshape(ref[hf].shape)
        if arch in ("llama", "mistral"):
            if hf.endswith("self_attn.q_proj.weight"):
                a = unpermute_rope(a, spec["heads"])
            elif hf.endswith("self_attn.k_proj.weight"):
                a = unpermute_rope(a, spec["kv_heads"])
        elif arch == "gemma3" and hf.endswith("norm.weight"):
            a = a - np.float32(1.0)
        out[hf] = np.ascontiguousarray(a, dtype=np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------
def manifest_gguf(path: Path, out_dir: Path) -> dict:
    r = gguf.GGUFReader(str(path))
    arch = gguf_field(r, "general.architecture")

    def k(s):
        return gguf_field(r, f"{arch}.{s}")

    n_embd = k("embedding_length")
    n_head = k("attention.head_count")
    head_dim = k("attention.key_length") or (n_embd // n_head)
    hist: dict[str, int] = {}
    for t in r.tensors:
        tn = QT(int(t.tensor_type)).name
        hist[tn] = hist.get(tn, 0) + 1
    tok_embd = next(t for t in r.tensors if t.name == "token_embd.weight")
    n_layer = k("block_count")
    swa = k("attention.sliding_window")
    if arch == "gemma3":
        # llama.cpp's fixed Gemma 3 pattern: every 6th layer is global
        sliding_layers = [i for i in range(n_layer) if (i + 1) % 6 != 0]
    elif swa:
        sliding_layers = list(range(n_layer))
    else:
        sliding_layers = []
    return {
        "path": path.relative_to(out_dir).as_posix(),
        "format": "gguf",
        "gguf_version": int(r.fields["GGUF.version"].parts[-1][0]),
        "architecture": arch,
        "name": gguf_field(r, "general.name"),
        "file_type": gguf_field(r, "general.file_type"),
        "n_layer": n_layer,
        "n_head": n_head,
        "n_head_kv": k("attention.head_count_kv"),
        "head_dim": head_dim,
        "n_embd": n_embd,
        "n_ff": k("feed_forward_length"),
        "n_vocab": int(gguf_field(r, "tokenizer.ggml.tokens")),
        "context_length": k("context_length"),
        "rope_freq_base": k("rope.freq_base"),
        "rms_norm_eps": round6(k("attention.layer_norm_rms_epsilon")),
        "sliding_window": swa,
        "sliding_layers": sliding_layers,
        "has_rope_freqs": any(t.name == "rope_freqs.weight" for t in r.tensors),
        "has_output": any(t.name == "output.weight" for t in r.tensors),
        "tensor_count": len(r.tensors),
        "kv_count": len(r.fields) - 3,  # minus the GGUF.* header pseudo-fields
        "tensor_types": dict(sorted(hist.items())),
        "token_embd_shape": [int(x) for x in tok_embd.shape],  # ne order
        "chat_template": "tokenizer.chat_template" in r.fields,
        "tokenizer_model": gguf_field(r, "tokenizer.ggml.model"),
        "bos_id": gguf_field(r, "tokenizer.ggml.bos_token_id"),
        "eos_id": gguf_field(r, "tokenizer.ggml.eos_token_id"),
        "add_space_prefix": bool(gguf_field(r, "tokenizer.ggml.add_space_prefix")),
        "size": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def manifest_hf(folder: Path, out_dir: Path) -> dict:
    cfg = json.loads((folder / "config.json").read_text())
    tensors = read_hf_folder(folder)
    hist: dict[str, int] = {}
    for dt, _, _ in tensors.values():
        hist[dt] = hist.get(dt, 0) + 1
    n_head = cfg["num_attention_heads"]
    window = cfg.get("sliding_window")
    if cfg["model_type"] == "gemma3_text":
        sliding_layers = [i for i, t in enumerate(cfg["layer_types"]) if t == "sliding_attention"]
    elif cfg["model_type"] in ("qwen2", "qwen3"):
        # Qwen: the window applies only with use_sliding_window, from max_window_layers on.
        window = window if cfg.get("use_sliding_window") else None
        sliding_layers = list(range(cfg["max_window_layers"], cfg["num_hidden_layers"])) if window else []
    elif window:
        sliding_layers = list(range(cfg["num_hidden_layers"]))
    else:
        sliding_layers = []
    files = []
    for p in sorted(folder.iterdir()):
        files.append({"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)})
    return {
        "path": folder.relative_to(out_dir).as_posix(),
        "format": "safetensors",
        "architecture": cfg["model_type"],
        "n_layer": cfg["num_hidden_layers"],
        "n_head": n_head,
        "n_head_kv": cfg["num_key_value_heads"],
        "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // n_head,
        "n_embd": cfg["hidden_size"],
        "n_ff": cfg["intermediate_size"],
        "n_vocab": cfg["vocab_size"],
        "context_length": cfg["max_position_embeddings"],
        "rope_freq_base": cfg["rope_theta"],
        "rope_scaling": cfg.get("rope_scaling"),
        "rms_norm_eps": cfg["rms_norm_eps"],
        "sliding_window": window,
        "sliding_layers": sliding_layers,
        "tied_embeddings": cfg["tie_word_embeddings"],
        "tensor_count": len(tensors),
        "tensor_types": dict(sorted(hist.items())),
        "shards": sum(1 for f in files if f["name"].endswith(".safetensors")),
        "chat_template": "chat_template" in json.loads((folder / "tokenizer_config.json").read_text()),
        "files": files,
        "size": sum(f["size"] for f in files),
    }


# ---------------------------------------------------------------------------------------------
# Logit goldens (torch + transformers)
# ---------------------------------------------------------------------------------------------
def compute_logit_goldens(out_dir: Path, manifest: dict) -> dict:
    import torch
    import transformers

    torch.manual_seed(0)
    torch.set_num_threads(1)
    specs = {s["name"]: s for s in MODELS}
    result = {
        "generator_version": GENERATOR_VERSION,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "note": "float32 forward passes with transformers (eager attention), full recompute per step, "
                "prompt = BOS + sentencepiece ids. 'logits' are those at the last prompt position "
                "(rounded to 6 significant digits); 'greedy' the next N argmax tokens; 'margins' the "
                "top1-top2 logit gap at each greedy step (compare greedy tokens only where the margin "
                "clearly exceeds your error). GGUF entries use the GGUF file's own (dequantized) "
                "weights, so they are exact for that file.",
        "fixtures": {},
    }

    def run(model, ids: list[int]) -> dict:
        cur = list(ids)
        greedy, margins = [], []
        first = None
        with torch.no_grad():
            for step in range(N_GREEDY):
                logits = model(torch.tensor([cur], dtype=torch.long)).logits[0, -1].to(torch.float32)
                if first is None:
                    first = logits.clone()
                top = torch.topk(logits, 2)
                greedy.append(int(top.indices[0]))
                margins.append(round6(float(top.values[0] - top.values[1])))
                cur.append(int(top.indices[0]))
        return {"prompt_ids": ids, "logits": [round6(v) for v in first.tolist()],
                "greedy": greedy, "margins": margins}

    def prompts_for(spec):
        sp = load_sp(out_dir / "tokenizers" / f"{spec['tokenizer']}.model")
        return [[sp.bos_id()] + sp.Encode(p) for p in LOGIT_PROMPTS]

    for entry in manifest["fixtures"]:
        spec = specs[entry["model"]]
        path = out_dir / entry["path"]
        if entry["format"] == "safetensors":
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), dtype=torch.float32, attn_implementation="eager")
        else:
            tok = load_sp(out_dir / "tokenizers" / f"{spec['tokenizer']}.model")
            cfg_dict = hf_config(spec, tok.vocab_size(),
                                 {"bos": tok.bos_id(), "eos": tok.eos_id(), "pad": tok.pad_id()}, "F32")
            cfg_dict.pop("architectures")
            cfg_dict.pop("torch_dtype")
            config = transformers.AutoConfig.for_model(**cfg_dict)
            model = transformers.AutoModelForCausalLM.from_config(
                config, dtype=torch.float32, attn_implementation="eager")
            weights = read_gguf_weights(path, spec)
            sd = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
            missing, unexpected = model.load_state_dict(sd, strict=False)
            missing = [m for m in missing if m != "lm_head.weight" or not spec["tied"]]
            if missing or unexpected:
                raise RuntimeError(f"{path.name}: missing {missing} unexpected {unexpected}")
            if spec["tied"]:
                model.tie_weights()
        model.eval()
        runs = [run(model, ids) for ids in prompts_for(spec)]
        result["fixtures"][entry["path"]] = {
            "model": spec["name"],
            "format": entry["format"],
            "sha256": entry.get("sha256") or [f["sha256"] for f in entry["files"] if f["name"].endswith(".safetensors")],
            "prompts": runs,
        }
        print(f"  logits {entry['path']}: greedy {runs[0]['greedy'][:6]}... min margin "
              f"{min(min(r['margins']) for r in runs):.4g}")
    return result


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def clean_out(out_dir: Path) -> None:
    """Removes what this script writes (not logit-goldens.json, which --no-logits keeps), and
    nothing else: other generators keep files here too (tokenizers/ holds BPE fixtures)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ours = [out_dir / "MANIFEST.json", out_dir / "tokenizer-goldens.json"]
    ours += [out_dir / "tokenizers" / f"{name}.model" for name in TOKENIZERS]
    for spec in MODELS:
        ours += [out_dir / folder for folder, _, _ in spec["hf"]]
        ours += [out_dir / f"{spec['name']}-{target.lower()}.gguf" for target in spec["gguf"]]
    for p in ours:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def tol_for(target: str) -> float:
    return {"F32": 0.0, "F16": 1e-3, "BF16": 8e-3, "Q8_0": 1e-2, "Q4_K": 0.12}[target]


def generate(out_dir: Path) -> dict:
    for p in TRAINING_TEXT:
        if not Path(p).is_file():
            sys.exit(f"training text {p} not found (Debian's base-files provides it)")
    check_q4_k_roundtrip()
    clean_out(out_dir)

    lines = training_lines()
    tok_dir = out_dir / "tokenizers"
    tok_dir.mkdir(exist_ok=True)
    tok_paths = {}
    sps = {}
    for name in TOKENIZERS:
        path = tok_dir / f"{name}.model"
        path.write_bytes(train_tokenizer(name, lines))
        tok_paths[name] = path
        sps[name] = load_sp(path)
        assert sps[name].vocab_size() == VOCAB_SIZE

    write_json(out_dir / "tokenizer-goldens.json", tokenizer_goldens(tok_paths))

    fixtures = []
    for spec in MODELS:
        sp = sps[spec["tokenizer"]]
        n_vocab = sp.vocab_size()
        ids = {"bos": sp.bos_id(), "eos": sp.eos_id(), "pad": sp.pad_id() if sp.pad_id() >= 0 else None}
        master = make_weights(spec, n_vocab)
        source = master
        for folder, dtype, shards in spec["hf"]:
            stored = write_hf_folder(out_dir / folder, spec, master, dtype, shards, tok_paths[spec["tokenizer"]],
                                     sp, n_vocab, ids)
            if source is master:
                source = stored
            # read back and compare
            back = read_hf_folder(out_dir / folder)
            assert set(back) == set(master), folder
            for n, (_, _, v) in back.items():
                assert np.array_equal(v, stored[n]), (folder, n)
            fixtures.append(("safetensors", out_dir / folder, spec))
        for target in spec["gguf"]:
            path = out_dir / f"{spec['name']}-{target.lower()}.gguf"
            write_gguf(path, spec, source, target, sp, tok_paths[spec['tokenizer']], n_vocab)
            back = read_gguf_weights(path, spec)
            for n, v in back.items():
                ref = source[n]
                err = float(np.max(np.abs(v - ref)) / (np.max(np.abs(ref)) + 1e-12))
                assert err <= tol_for(target) + 1e-7, f"{path.name} {n}: max rel err {err}"
            fixtures.append(("gguf", path, spec))

    manifest = {
        "generator": "tests/tools/gen-tiny-models.py",
        "generator_version": GENERATOR_VERSION,
        "tokenizer_training_text": [{"path": p, "sha256": sha256_file(Path(p))} for p in TRAINING_TEXT],
        "notes": [
            "GGUF llama/mistral: attn_q/attn_k rows permuted to the interleaved RoPE pair layout "
            "(per head: [2, head_dim/2] -> [head_dim/2, 2]); safetensors keep the HF rotate-half layout.",
            "GGUF gemma3: all *norm weights stored as 1 + w (HF Gemma3RMSNorm multiplies by 1 + w); "
            "safetensors store w.",
            "Gemma 3 sliding layers: HF layer_types (sliding_window_pattern 6: layer i global iff "
            "(i+1) % 6 == 0). GGUF gemma3 carries no pattern key; llama.cpp assumes 6.",
            "Sliding window W (HF semantics): query at position i attends keys j with i - W < j <= i.",
            "tiny-llama3 GGUF: llama3 rope scaling appears only as the rope_freqs.weight tensor "
            "(per-frequency divisors), as llama.cpp's converter writes it.",
            "tiny-mistral GGUF: llama architecture plus llama.attention.sliding_window.",
            "GGUF qwen2/qwen3: Q/K rows unpermuted (NeoX RoPE), norms stored as they are; qwen2 "
            "carries blk.N.attn_{q,k,v}.bias. tiny-qwen2's config.json names sliding_window 16 with "
            "use_sliding_window false, so no layer slides (manifest sliding_window null).",
            "Qwen fixtures use the llama-spm SentencePiece vocabulary; token ids are what the tests feed.",
            "Gemma 3 embeddings are multiplied by sqrt(n_embd) at run time (not folded into weights).",
        ],
        "tokenizers": [
            {"path": f"tokenizers/{n}.model", "format": "sentencepiece", "type": "bpe",
             "vocab_size": sps[n].vocab_size(), "bos_id": sps[n].bos_id(), "eos_id": sps[n].eos_id(),
             "unk_id": sps[n].unk_id(), "pad_id": sps[n].pad_id(),
             "add_dummy_prefix": TOKENIZERS[n]["add_dummy_prefix"],
             "size": tok_paths[n].stat().st_size, "sha256": sha256_file(tok_paths[n])}
            for n in TOKENIZERS
        ],
        "fixtures": [],
    }
    for fmt, path, spec in fixtures:
        e = manifest_gguf(path, out_dir) if fmt == "gguf" else manifest_hf(path, out_dir)
        e = {"model": spec["name"], **e}
        manifest["fixtures"].append(e)
    write_json(out_dir / "MANIFEST.json", manifest)
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--logits", action="store_true", help="compute logit goldens (needs torch, transformers)")
    g.add_argument("--no-logits", action="store_true", help="do not compute logit goldens")
    g.add_argument("--logits-only", action="store_true", help="only recompute logit goldens")
    args = ap.parse_args()
    out_dir = args.out.resolve()

    if args.logits_only:
        manifest = json.loads((out_dir / "MANIFEST.json").read_text())
    else:
        manifest = generate(out_dir)
        print(f"wrote {len(manifest['fixtures'])} model fixtures to {out_dir}")

    want_logits = args.logits or args.logits_only
    if not want_logits and not args.no_logits:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
            want_logits = True
        except ImportError:
            print("torch/transformers not importable: logit goldens left as they are "
                  "(run with --logits in a venv that has them)")
    if want_logits:
        goldens = compute_logit_goldens(out_dir, manifest)
        (out_dir / "logit-goldens.json").write_text(json.dumps(goldens, separators=(",", ":")) + "\n")
        print("wrote logit-goldens.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
