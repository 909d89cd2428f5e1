#!/usr/bin/env python3
"""Generate PyTorch autograd goldens for the importance analysis (inference/profile).

For each tiny safetensors fixture in tests/data/models, loads the model with Hugging Face
transformers in float64 (attn_implementation="eager"), runs one token sequence, takes
L = mean next-token cross-entropy (logits[t] predicts ids[t + 1]; the last position
predicts nothing) and records, per layer, the Frobenius norms of dL/dW_k and dL/dW_v
(self_attn.k_proj.weight.grad, self_attn.v_proj.weight.grad) together with L.

The token sequence is seeded and longer than the fixtures' sliding window (16), so the
window, GQA, QK-norm, sandwich norms, GeGLU/SwiGLU and llama3 RoPE scaling all take part.

Usage (from the repository root):
  /path/to/venv/bin/python tests/tools/gen-grad-goldens.py [--out tests/data/grad-goldens.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers

FIXTURES = ["tiny-llama-bf16-sharded", "tiny-llama3-f32", "tiny-mistral-f16", "tiny-gemma3-bf16"]
# Gemma 3 again with the final logit soft-cap switched on in config.json (the test makes the
# same copy). Not the attention soft-cap: transformers' Gemma 3 does not apply
# attn_logit_softcapping, so there is no reference; its backward is checked against finite
# differences in tests/profile/test-grad-ops.cpp.
SOFTCAP_VARIANT = ("tiny-gemma3-bf16", {"final_logit_softcapping": 3.0})
SEQ_LEN = 40
SEED = 1234


def run(path: Path, ids: list[int]) -> dict:
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path), dtype=torch.float64, attn_implementation="eager")
    model.eval()  # no dropout; gradients still flow
    x = torch.tensor([ids], dtype=torch.long)
    logits = model(input_ids=x).logits[0]
    loss = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="mean")
    loss.backward()
    layers = model.model.layers
    return {
        "loss": float(loss.item()),
        "k_norm": [float(l.self_attn.k_proj.weight.grad.norm().item()) for l in layers],
        "v_norm": [float(l.self_attn.v_proj.weight.grad.norm().item()) for l in layers],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    root = Path(__file__).resolve().parents[2]
    ap.add_argument("--out", default=str(root / "tests/data/grad-goldens.json"))
    args = ap.parse_args()
    models = root / "tests/data/models"
    rng = np.random.default_rng(SEED)
    result = {
        "generator": "tests/tools/gen-grad-goldens.py",
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, float64 autograd",
        "loss": "mean next-token cross-entropy, labels shifted by one",
        "fixtures": {},
    }
    for name in FIXTURES:
        cfg = json.loads((models / name / "config.json").read_text())
        ids = [int(i) for i in rng.integers(3, cfg["vocab_size"], SEQ_LEN)]
        res = run(models / name, ids)
        res["tokens"] = ids
        result["fixtures"][name] = res
        print(name, res["loss"], res["k_norm"], res["v_norm"])
    base, overrides = SOFTCAP_VARIANT
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / base
        shutil.copytree(models / base, d)
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(overrides)
        (d / "config.json").write_text(json.dumps(cfg))
        ids = [int(i) for i in rng.integers(3, cfg["vocab_size"], SEQ_LEN)]
        res = run(d, ids)
        res["tokens"] = ids
        res["config_overrides"] = overrides
        result["fixtures"][base + "+softcap"] = res
        print(base + "+softcap", res["loss"], res["k_norm"], res["v_norm"])
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
