#!/usr/bin/env python3
"""Generate independent reference outputs (goldens) for the installed default models.

Two models are known: SmolLM2-135M-Instruct Q4_1 (the default, GGUF architecture "llama")
and Gemma 3 270M Q4_K_M ("gemma3"). The C++ engine's forward pass is checked against these
(tests/model/test-default-model.cpp). The reference is Hugging Face transformers
(LlamaForCausalLM / Gemma3ForCausalLM, text only) run in float32 with
attn_implementation="eager", fed with exactly the weights the engine sees: every GGUF tensor
is dequantized with the `gguf` package (gguf.quants.dequantize) and mapped onto the HF
parameter names.

Route "manual-dequant" (the one that produces the goldens):
  * config built from the GGUF metadata.
    llama (SmolLM2): hidden 576, ff 1536, 30 layers, 9 heads / 3 KV heads of 64, vocab 49152,
    rope base 1e5, rms eps from metadata, SwiGLU, tied embeddings (no output.weight).
    gemma3: hidden 640, ff 2048, 18 layers, 4 heads / 1 KV head, head_dim 256, vocab 262144,
    rope base 1e6 for global layers and 10000 for sliding layers, sliding window 512, layer i
    global iff (i + 1) % 6 == 0, query_pre_attn_scalar 256, gelu_pytorch_tanh, tied
    embeddings, no logit soft-capping.
  * weights: llama.cpp's converter permutes the rows of llama attn_q / attn_k so that RoPE
    rotates adjacent pairs; they are permuted back to the HF rotate-half order. GGUF gemma3
    "*norm.weight" tensors store the effective multiplier (1 + w); HF's Gemma3RMSNorm
    multiplies by (1 + weight), so 1 is subtracted (no Q/K permutation: NeoX-style RoPE).
    gguf-py returns arrays in numpy row-major order, i.e. HF [out, in]; every shape is
    checked against the HF parameter.

Optional cross-checks (recorded in the JSON header):
  --cross-check-hf-gguf   also load the model with transformers' own GGUF loader
                          (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)) and record the
                          max |logit| difference against the manual route.
  --kvmix BIN             compare the prompt token ids with `BIN tokenize -m MODEL --json TEXT`.

Prompt token ids come from transformers' GGUF tokenizer conversion
(AutoTokenizer.from_pretrained(dir, gguf_file=...)), so the goldens do not depend on the
project's tokenizer; they are stored in the output. BOS is prepended only where the GGUF
asks for it (Gemma yes, SmolLM2 no). Models with a chat template also get a "chat" prompt:
the template applied to one user message, with the generation prompt.

Usage (from the repository root):
  /path/to/venv/bin/python tests/tools/gen-default-model-goldens.py \
      [--model ~/.local/share/kvmix/models/smollm2-135m-instruct-q4_1.gguf] \
      [--out tests/data/default-model/<model file stem>.json] [--cross-check-hf-gguf] [--kvmix build/bin/kvmix]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import gguf

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = Path.home() / ".local/share/kvmix/models"
DEFAULT_MODEL = MODELS_DIR / "smollm2-135m-instruct-q4_1.gguf"
OUT_DIR = REPO / "tests" / "data" / "default-model"  # <model file stem>.json, read by the C++ test
EXPECTED_SHA256 = {
    "smollm2-135m-instruct-q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    "gemma-3-270m-q4_k_m.gguf": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
}

GENERATOR_VERSION = 1
TOPK = 10
SUBSET_SIZE = 512
SUBSET_SEED = 20240531
N_GREEDY = 16
LONG_PROMPT_TOKENS = 600
FILLER_SEED = 7
CHAT_QUESTION = "What is the capital of France? Answer in one sentence."


def sig6(x: float) -> float:
    """Round to 6 significant digits."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x}")
    return float(f"{x:.6g}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# GGUF reading


def field_value(reader: gguf.GGUFReader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def build_config(reader: gguf.GGUFReader):
    arch = field_value(reader, "general.architecture")
    if arch == "gemma3":
        return build_gemma3_config(reader)
    if arch == "llama":
        return build_llama_config(reader)
    raise SystemExit(f"unsupported architecture {arch!r} (llama, gemma3)")


def build_llama_config(reader: gguf.GGUFReader):
    from transformers import LlamaConfig

    p = "llama."
    n_embd = int(field_value(reader, p + "embedding_length"))
    n_head = int(field_value(reader, p + "attention.head_count"))
    key_length = field_value(reader, p + "attention.key_length")
    head_dim = int(key_length) if key_length is not None else n_embd // n_head
    n_rot = field_value(reader, p + "rope.dimension_count")
    assert n_rot is None or int(n_rot) == head_dim, "partial RoPE is not modelled here"
    if field_value(reader, p + "rope.scaling.type") not in (None, "none"):
        raise SystemExit("rope scaling is not modelled here")
    tensor_names = {t.name for t in reader.tensors}
    assert "rope_freqs.weight" not in tensor_names, "llama3 rope scaling is not modelled here"

    def opt_int(key):
        v = field_value(reader, key)
        return int(v) if v is not None else None

    return LlamaConfig(
        vocab_size=len(reader.fields["tokenizer.ggml.tokens"].data),
        hidden_size=n_embd,
        intermediate_size=int(field_value(reader, p + "feed_forward_length")),
        num_hidden_layers=int(field_value(reader, p + "block_count")),
        num_attention_heads=n_head,
        num_key_value_heads=int(field_value(reader, p + "attention.head_count_kv")),
        head_dim=head_dim,
        hidden_act="silu",
        max_position_embeddings=int(field_value(reader, p + "context_length")),
        rms_norm_eps=float(field_value(reader, p + "attention.layer_norm_rms_epsilon")),
        rope_parameters={"rope_type": "default", "rope_theta": float(field_value(reader, p + "rope.freq_base"))},
        tie_word_embeddings="output.weight" not in tensor_names,
        attention_bias=False,
        mlp_bias=False,
        pad_token_id=opt_int("tokenizer.ggml.padding_token_id"),
        bos_token_id=opt_int("tokenizer.ggml.bos_token_id"),
        eos_token_id=opt_int("tokenizer.ggml.eos_token_id"),
    )


def build_gemma3_config(reader: gguf.GGUFReader):
    from transformers import Gemma3TextConfig

    p = "gemma3."
    n_layer = int(field_value(reader, p + "block_count"))
    n_embd = int(field_value(reader, p + "embedding_length"))
    n_head = int(field_value(reader, p + "attention.head_count"))
    n_head_kv = int(field_value(reader, p + "attention.head_count_kv"))
    head_dim = int(field_value(reader, p + "attention.key_length"))
    assert int(field_value(reader, p + "attention.value_length")) == head_dim
    n_ff = int(field_value(reader, p + "feed_forward_length"))
    eps = float(field_value(reader, p + "attention.layer_norm_rms_epsilon"))
    rope_global = float(field_value(reader, p + "rope.freq_base"))
    swa = int(field_value(reader, p + "attention.sliding_window"))
    n_ctx = int(field_value(reader, p + "context_length"))
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    layer_types = [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layer)
    ]
    cfg = Gemma3TextConfig(
        vocab_size=vocab,
        hidden_size=n_embd,
        intermediate_size=n_ff,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head_kv,
        head_dim=head_dim,
        hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=n_ctx,
        rms_norm_eps=eps,
        tie_word_embeddings=True,
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": rope_global},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
        query_pre_attn_scalar=256,
        sliding_window=swa,
        layer_types=layer_types,
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        attention_bias=False,
        use_bidirectional_attention=False,
        pad_token_id=int(field_value(reader, "tokenizer.ggml.padding_token_id")),
        bos_token_id=int(field_value(reader, "tokenizer.ggml.bos_token_id")),
        eos_token_id=int(field_value(reader, "tokenizer.ggml.eos_token_id")),
    )
    return cfg


LAYER_MAP_COMMON = {
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
LAYER_MAP = {
    "llama": {**LAYER_MAP_COMMON, "ffn_norm.weight": "post_attention_layernorm.weight"},
    "gemma3": {
        **LAYER_MAP_COMMON,
        "attn_q_norm.weight": "self_attn.q_norm.weight",
        "attn_k_norm.weight": "self_attn.k_norm.weight",
        "post_attention_norm.weight": "post_attention_layernorm.weight",
        "ffn_norm.weight": "pre_feedforward_layernorm.weight",
        "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    },
}


def hf_name(gguf_name: str, arch: str) -> str:
    if gguf_name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gguf_name == "output_norm.weight":
        return "model.norm.weight"
    if gguf_name == "output.weight":
        return "lm_head.weight"
    if gguf_name.startswith("blk."):
        _, idx, rest = gguf_name.split(".", 2)
        if rest in LAYER_MAP[arch]:
            return f"model.layers.{int(idx)}.{LAYER_MAP[arch][rest]}"
    raise KeyError(f"unmapped GGUF tensor {gguf_name}")


def unpermute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF llama interleaved-pair row order -> HF rotate-half row order, per head (the
    inverse of llama.cpp's converter: rows (n_head, 2, d/2) were stored as (n_head, d/2, 2))."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_manual(reader: gguf.GGUFReader, cfg):
    """LlamaForCausalLM / Gemma3ForCausalLM in float32 with every tensor dequantized by gguf-py."""
    import torch
    from transformers import Gemma3ForCausalLM, LlamaForCausalLM

    arch = field_value(reader, "general.architecture")
    torch.manual_seed(0)
    cls = Gemma3ForCausalLM if arch == "gemma3" else LlamaForCausalLM
    model = cls._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    params = dict(model.named_parameters())
    state = {}
    type_counts: dict[str, int] = {}
    for t in reader.tensors:
        name = hf_name(t.name, arch)
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        arr = np.asarray(arr, dtype=np.float32)
        type_counts[t.tensor_type.name] = type_counts.get(t.tensor_type.name, 0) + 1
        # GGUF ne = [in, out] (innermost first); numpy/gguf-py give [out, in].
        expect_hf = tuple(int(d) for d in reversed([int(x) for x in t.shape]))
        if arr.shape != expect_hf:
            arr = arr.reshape(expect_hf)
        target = params[name]
        if tuple(target.shape) != arr.shape:
            raise SystemExit(f"shape mismatch {t.name}: gguf {arr.shape} vs hf {tuple(target.shape)}")
        if arch == "gemma3" and t.name.endswith("norm.weight"):
            arr = arr - np.float32(1.0)  # GGUF stores (1 + w)
        if arch == "llama" and t.name.endswith("attn_q.weight"):
            arr = unpermute_rope(arr, cfg.num_attention_heads)
        if arch == "llama" and t.name.endswith("attn_k.weight"):
            arr = unpermute_rope(arr, cfg.num_key_value_heads)
        state[name] = torch.from_numpy(arr.copy())
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "lm_head.weight" or not cfg.tie_word_embeddings]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    # Tied output: lm_head must be the (dequantized) token embedding.
    if cfg.tie_word_embeddings:
        if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
            model.lm_head.weight = model.model.embed_tokens.weight
        assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    if arch == "gemma3":
        # The embedding scale is a non-persistent buffer; make sure it holds sqrt(hidden).
        emb = model.model.embed_tokens
        scale = float(emb.embed_scale.item())
        assert emb.embed_scale.dtype == torch.float32
        assert scale == float(np.float32(math.sqrt(cfg.hidden_size))), scale
    return model, type_counts


def load_hf_gguf(model_path: Path):
    import torch
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as d:
        link = Path(d) / "model.gguf"
        os.symlink(model_path.resolve(), link)
        model = AutoModelForCausalLM.from_pretrained(
            d, gguf_file="model.gguf", dtype=torch.float32, attn_implementation="eager"
        )
    model.eval()
    return model


def load_tokenizer(model_path: Path):
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as d:
        link = Path(d) / "model.gguf"
        os.symlink(model_path.resolve(), link)
        return AutoTokenizer.from_pretrained(d, gguf_file="model.gguf")


# ----------------------------------------------------------------------------------------------
# Prompts

SCIENCE_PROMPT = (
    "Photosynthesis is the process by which green plants, algae and some bacteria capture the "
    "energy of sunlight and use it to turn carbon dioxide and water into sugars, releasing "
    "oxygen into the air as a byproduct."
)


def filler_text(n_sentences: int) -> str:
    """Deterministic filler sentences built from small word lists (seeded PRNG)."""
    rng = random.Random(FILLER_SEED)
    adjectives = ["quiet", "bright", "old", "narrow", "busy", "small", "distant", "green",
                  "cold", "famous", "empty", "wooden", "rainy", "tall", "careful", "curious"]
    nouns = ["river", "village", "teacher", "machine", "garden", "library", "engineer",
             "bridge", "market", "painter", "harbor", "student", "forest", "train", "doctor",
             "mountain", "farmer", "window", "museum", "sailor"]
    verbs = ["visited", "repaired", "described", "watched", "followed", "painted", "measured",
             "remembered", "crossed", "photographed", "studied", "admired"]
    places = ["the square", "the station", "the coast", "the old mill", "the hill",
              "the main road", "the lake", "the north gate", "the bakery", "the school"]
    times = ["In the morning", "Later that day", "Every spring", "On Sunday", "After lunch",
             "Before sunset", "During the winter", "Last year"]
    out = []
    for i in range(n_sentences):
        form = rng.randrange(3)
        a1, a2 = rng.choice(adjectives), rng.choice(adjectives)
        n1, n2 = rng.choice(nouns), rng.choice(nouns)
        v, p, t = rng.choice(verbs), rng.choice(places), rng.choice(times)
        if form == 0:
            s = f"The {a1} {n1} {v} the {a2} {n2} near {p}."
        elif form == 1:
            s = f"{t}, a {a1} {n1} {v} a {n2} at {p}."
        else:
            s = f"Nobody knew why the {n1} {v} the {a2} {n2} so often, but {p} was {a1} again."
        out.append(s)
    return " ".join(out)


def build_prompts(tok, bos_id: int | None, add_bos: bool):
    def encode(text, special=True):
        ids = [int(i) for i in tok(text, add_special_tokens=special)["input_ids"]]
        if add_bos and ids[:1] != [bos_id]:
            ids = [bos_id] + ids
        if add_bos:
            assert ids[0] == bos_id and ids[1] != bos_id, ids[:3]
        return ids

    prompts = []
    prompts.append(dict(name="capital", text="The capital of France is", ids=encode("The capital of France is")))
    prompts.append(dict(name="science", text=SCIENCE_PROMPT, ids=encode(SCIENCE_PROMPT)))
    n = 10
    while True:
        text = filler_text(n)
        ids = encode(text)
        if len(ids) >= LONG_PROMPT_TOKENS:
            break
        n += 2
    ids = ids[:LONG_PROMPT_TOKENS]
    prompts.append(dict(name="long-filler", text=tok.decode(ids[1:] if add_bos else ids), ids=ids,
                        note=f"filler_text({n}) tokenized, truncated to {LONG_PROMPT_TOKENS} "
                             f"tokens (text field is the decode of the kept ids)"))
    if getattr(tok, "chat_template", None):
        text = tok.apply_chat_template([{"role": "user", "content": CHAT_QUESTION}], tokenize=False,
                                       add_generation_prompt=True)
        # The template writes BOS itself where the model has one.
        prompts.append(dict(name="chat", text=text, ids=encode(text, special=False),
                            note="the GGUF chat template applied to one user message, with the "
                                 "generation prompt; its special tokens parsed as such"))
    return prompts


def subset_positions(name: str, n: int) -> list[int]:
    if name == "long-filler":
        pos = [0, 255, 530, n - 1]  # 530 and n-1 are past the 512-token sliding window
    else:
        pos = [0, n // 3, (2 * n) // 3, n - 1]
    out = sorted(set(p for p in pos if 0 <= p < n))
    return out


# ----------------------------------------------------------------------------------------------


def forward_logits(model, ids):
    import torch

    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long)
        out = model(input_ids=x, use_cache=False, logits_to_keep=0)
    return out.logits[0].float()  # [T, V]


def greedy(model, ids, n):
    """Greedy decoding with a full (cache-free) forward pass per step."""
    import torch

    seq = list(ids)
    toks, gaps, top2 = [], [], []
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([seq], dtype=torch.long)
            logits = model(input_ids=x, use_cache=False, logits_to_keep=1).logits[0, -1].float()
            v, i = torch.topk(logits, 2)
            nxt = int(i[0])
            toks.append(nxt)
            gaps.append(sig6(v[0] - v[1]))
            top2.append([int(i[0]), int(i[1])])
            seq.append(nxt)
    return toks, gaps, top2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=None, help="default: tests/data/default-model/<model file stem>.json")
    ap.add_argument("--cross-check-hf-gguf", action="store_true",
                    help="also load via transformers' GGUF loader and record the logit difference")
    ap.add_argument("--kvmix", type=Path, default=None,
                    help="kvmix binary: compare prompt token ids with `kvmix tokenize --json`")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    model_path = args.model.expanduser()
    out_path = args.out or OUT_DIR / (model_path.stem + ".json")
    digest = sha256_of(model_path)
    expected = EXPECTED_SHA256.get(model_path.name)
    if digest != expected:
        print(f"warning: model sha256 {digest} != expected {expected}", file=sys.stderr)

    reader = gguf.GGUFReader(str(model_path))
    arch = field_value(reader, "general.architecture")
    cfg = build_config(reader)
    print(f"[{time.time()-t0:.0f}s] {arch} config: layers={cfg.num_hidden_layers} "
          f"types={getattr(cfg, 'layer_types', None)}")
    model, type_counts = load_manual(reader, cfg)
    print(f"[{time.time()-t0:.0f}s] manual-dequant model loaded; tensor types {type_counts}")

    tok = load_tokenizer(model_path)
    print(f"[{time.time()-t0:.0f}s] tokenizer loaded ({type(tok).__name__})")
    bos_id = field_value(reader, "tokenizer.ggml.bos_token_id")
    add_bos = bool(field_value(reader, "tokenizer.ggml.add_bos_token"))
    prompts = build_prompts(tok, None if bos_id is None else int(bos_id), add_bos)
    for p in prompts:
        print(f"  prompt {p['name']}: {len(p['ids'])} tokens")

    kvmix_check = None
    if args.kvmix:
        kvmix_check = {}
        for p in prompts:
            r = subprocess.run([str(args.kvmix), "tokenize", "-m", str(model_path), "--json", p["text"]],
                               capture_output=True, text=True, check=True)
            kid = json.loads(r.stdout)["ids"]
            same = kid == p["ids"] if p["name"] != "long-filler" else kid[:len(p["ids"])] == p["ids"]
            kvmix_check[p["name"]] = bool(same)
            print(f"  kvmix tokenize {p['name']}: {'same' if same else 'DIFFERENT'}")

    # Fixed seeded subset of vocab ids for full-logit comparison.
    rng = np.random.default_rng(SUBSET_SEED)
    subset = sorted(int(i) for i in rng.choice(cfg.vocab_size, size=SUBSET_SIZE, replace=False))
    subset_t = torch.tensor(subset, dtype=torch.long)

    out_prompts = []
    all_logits = {}
    for p in prompts:
        ids = p["ids"]
        logits = forward_logits(model, ids)
        all_logits[p["name"]] = logits
        T = len(ids)
        vals, idx = torch.topk(logits, TOPK, dim=-1)
        entry = dict(name=p["name"], text=p["text"])
        if "note" in p:
            entry["note"] = p["note"]
        entry["ids"] = ids
        entry["n_tokens"] = T
        entry["argmax"] = [int(i) for i in idx[:, 0]]
        entry["top10_ids"] = [[int(i) for i in row] for row in idx]
        entry["top10_logits"] = [[sig6(v) for v in row] for row in vals]
        entry["top2_gap"] = [sig6(row[0] - row[1]) for row in vals]
        subs = []
        for pos in subset_positions(p["name"], T):
            subs.append(dict(position=pos, logits=[sig6(v) for v in logits[pos, subset_t]]))
        entry["subset_logits"] = subs
        if p["name"] != "long-filler":
            toks, gaps, top2 = greedy(model, ids, N_GREEDY)
            entry["greedy"] = dict(tokens=toks, top2_gap=gaps, top2_ids=top2,
                                   text=tok.decode(toks))
            print(f"  greedy {p['name']!r}: {tok.decode(toks)!r}")
            print(f"    gaps: {gaps}")
        out_prompts.append(entry)
        print(f"[{time.time()-t0:.0f}s] prompt {p['name']} done")

    if arch == "llama":
        route = ("manual-dequant: gguf.quants.dequantize of every tensor -> transformers "
                 "LlamaForCausalLM (float32, eager attention), attn_q / attn_k rows permuted back "
                 "from llama.cpp's interleaved-pair order to rotate-half, norms as stored")
        config = dict(
            hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
            num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
            num_key_value_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
            vocab_size=cfg.vocab_size, rms_norm_eps=cfg.rms_norm_eps,
            rope_theta=cfg.rope_parameters["rope_theta"], hidden_act=cfg.hidden_act,
            tie_word_embeddings=cfg.tie_word_embeddings, max_position_embeddings=cfg.max_position_embeddings,
        )
        hd, theta = cfg.head_dim, cfg.rope_parameters["rope_theta"]
        semantics = [
            "embedding output = embd_row (no scale)",
            "RMSNorm: x * rsqrt(mean(x^2) + eps) * w with w = GGUF norm tensor, eps = metadata value, "
            "computed in float32",
            f"RoPE on HF rotate-half pairs (j, j+{hd // 2}), inv_freq = {theta:g}^(-2j/{hd}), no scaling; "
            "the GGUF stores Q/K rows so that adjacent pairs rotate (the engine's interleaved mode)",
            f"attention score scale = {hd}^-0.5, GQA {cfg.num_attention_heads} query heads over "
            f"{cfg.num_key_value_heads} KV heads, full causal attention (no sliding window)",
            "block: h += attn(attn_norm(h)); h += mlp(ffn_norm(h)); mlp: down(silu(gate(x)) * up(x))",
            "logits = output_norm(h) @ token_embd^T" if cfg.tie_word_embeddings else "logits = output_norm(h) @ output^T",
        ]
    else:
        route = ("manual-dequant: gguf.quants.dequantize of every tensor -> transformers "
                 "Gemma3ForCausalLM (float32, eager attention), norms stored as (1 + w) get 1 "
                 "subtracted, no Q/K permutation")
        config = dict(
            hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
            num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
            num_key_value_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
            vocab_size=cfg.vocab_size, rms_norm_eps=cfg.rms_norm_eps,
            rope_theta_global=cfg.rope_parameters["full_attention"]["rope_theta"],
            rope_theta_local=cfg.rope_parameters["sliding_attention"]["rope_theta"],
            sliding_window=cfg.sliding_window, layer_types=cfg.layer_types,
            query_pre_attn_scalar=cfg.query_pre_attn_scalar,
            hidden_activation=cfg.hidden_activation,
        )
        semantics = [
            "embedding output = embd_row * float32(sqrt(640)) = 25.29822158813477 (torch.tensor(640**0.5) is float32; cast to the float32 model dtype, so no bf16 rounding)",
            "RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w) with (1 + w) = GGUF norm tensor, eps = "
            "metadata value, computed in float32",
            "per-head q_norm/k_norm (RMSNorm over head_dim 256) before RoPE",
            "RoPE NeoX style (rotate_half: pairs (j, j+128)), inv_freq = base^(-2j/256), "
            "base 1e6 on full_attention layers (5, 11, 17), 10000 on sliding layers",
            "attention score scale = 256^-0.5 (query_pre_attn_scalar), no soft-capping",
            "sliding layers: query at position q sees keys k with q - 512 < k <= q (512 keys incl. itself)",
            "block: h += post_attention_norm(attn(attn_norm(h))); h += post_ffw_norm(mlp(ffn_norm(h)))",
            "mlp: down(gelu_tanh(gate(x)) * up(x))",
            "logits = output_norm(h) @ token_embd^T (tied), no final soft-capping",
        ]
    header = dict(
        generator="tests/tools/gen-default-model-goldens.py",
        generator_version=GENERATOR_VERSION,
        versions=dict(transformers=transformers.__version__, torch=torch.__version__,
                      gguf=_pkg_version("gguf"), numpy=np.__version__),
        architecture=arch,
        route=route,
        cross_check_transformers_gguf_loader=None,
        tokenizer=f"transformers AutoTokenizer.from_pretrained(gguf_file=...) ({type(tok).__name__}); ids stored, "
                  + (f"BOS={bos_id} prepended" if add_bos else "no BOS (the GGUF's add_bos_token is false)"),
        kvmix_tokenize_agrees=kvmix_check,
        model_file=model_path.name,
        model_sha256=digest,
        dtype="float32",
        config=config,
        semantics=semantics,
        topk=TOPK,
        subset_seed=SUBSET_SEED,
        subset_vocab_ids=subset,
        greedy_steps=N_GREEDY,
        greedy_note="greedy = argmax of a full cache-free forward pass per step; no EOS stopping; "
                    "top2_gap = logit(top1) - logit(top2) at each step",
        float_rounding="6 significant digits",
    )
    result = dict(header=header, prompts=out_prompts)
    write_json(out_path, result, t0)

    if args.cross_check_hf_gguf:
        del model
        hf = load_hf_gguf(model_path)
        print(f"[{time.time()-t0:.0f}s] transformers GGUF loader model loaded")
        cross = {}
        for p in prompts:
            lg = forward_logits(hf, p["ids"])
            d = (lg - all_logits[p["name"]]).abs()
            same_argmax = bool(torch.equal(lg.argmax(-1), all_logits[p["name"]].argmax(-1)))
            cross[p["name"]] = dict(max_abs_diff=float(f"{float(d.max()):.3g}"), same_argmax=same_argmax)
            print(f"  hf-gguf vs manual {p['name']}: max|d|={float(d.max()):.3g} same_argmax={same_argmax}")

        header["cross_check_transformers_gguf_loader"] = cross
        write_json(out_path, result, t0)
    return 0


def write_json(path: Path, result: dict, t0: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, separators=(",", ":"))
    path.write_text(text + "\n")
    print(f"[{time.time()-t0:.0f}s] wrote {path} ({len(text)} bytes)")


def _pkg_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
