#!/usr/bin/env python3
"""Does the gradient ranking matter? Perplexity through the quantized KV cache at EQUAL bits.

Reads an importance profile (`kvmix profile ... -o FILE`) and, for one preset rule
(default: the paper's rule = top round-half-up(0.2 L) layers K3/V4, others K2/V2, window
ratios 0.2/0.1), writes per-layer KV profiles whose high layers are chosen by
  gradient   the profile's ranking (what the presets use)
  random-S   a seeded random ranking (same number of high layers, same bits)
  inverted   the least important layers first
and runs `kvmix perplexity --kv profile:FILE` for each, plus fp16 and uniform k2v2/k3v3.
Prints a Markdown table and a JSON line. Standard library only.

Usage:
  python3 tests/bench/ranking-comparison.py --kvmix build/bin/kvmix -m default \
      --profile PROFILE.json -f /usr/share/common-licenses/GPL-3 [--seeds 1,2,3] \
      [--ppl-args "--ctx 512 --chunk 128 --max-windows 4"]
"""
import argparse
import json
import math
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time


def n_high(fraction, n_layer):
    return max(0, min(n_layer, math.floor(fraction * n_layer + 0.5)))


def profile_json(name, order_k, order_v, n_layer, hi, rule):
    layers = []
    for i in range(n_layer):
        k_hi, v_hi = i in order_k[:hi], i in order_v[:hi]
        layers.append({"k_bits": rule["k_hi"] if k_hi else rule["k_lo"], "v_bits": rule["v_hi"] if v_hi else rule["v_lo"],
                       "k_window_ratio": 0.2 if k_hi else 0.1, "v_window_ratio": 0.2 if v_hi else 0.1})
    return {"name": name, "group_size": 32, "sinks": 4, "layers": layers}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmix", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("-f", "--file", required=True)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--rule", default="0.2:3:2:4:2", help="fraction:k_hi:k_lo:v_hi:v_lo (default: the paper's rule)")
    ap.add_argument("--ppl-args", default="--ctx 512 --chunk 128 --max-windows 4")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--only", default="", help="comma-separated variants to run (default: all)")
    args = ap.parse_args()

    prof = json.load(open(args.profile))
    ks = [s["k"] for s in prof["scores"]]
    vs = [s["v"] for s in prof["scores"]]
    L = len(ks)
    f, k_hi, k_lo, v_hi, v_lo = args.rule.split(":")
    rule = {"k_hi": int(k_hi), "k_lo": int(k_lo), "v_hi": int(v_hi), "v_lo": int(v_lo)}
    hi = n_high(float(f), L)
    grad_k = sorted(range(L), key=lambda i: (-ks[i], i))
    grad_v = sorted(range(L), key=lambda i: (-vs[i], i))
    variants = [("gradient", grad_k, grad_v), ("inverted", grad_k[::-1], grad_v[::-1])]
    for s in [int(x) for x in args.seeds.split(",") if x]:
        rng = random.Random(s)
        rk, rv = list(range(L)), list(range(L))
        rng.shuffle(rk)
        rng.shuffle(rv)
        variants.append((f"random-{s}", rk, rv))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        specs = [("fp16", "fp16", None), ("k2v2", "k2v2", None), ("k3v3", "k3v3", None)]
        for name, ok, ov in variants:
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as fh:
                json.dump(profile_json(name, ok, ov, L, hi, rule), fh)
            specs.append((name, "profile:" + path, (ok[:hi], ov[:hi])))
        only = set(x for x in args.only.split(",") if x)
        for name, spec, high in specs:
            if only and name not in only:
                continue
            cmd = [args.kvmix, "perplexity", "-m", args.model, "-f", args.file, *shlex.split(args.ppl_args), "--threads",
                   args.threads, "--kv", spec, "--json"]
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{name}: failed: {p.stderr.strip()}", file=sys.stderr)
                continue
            j = json.loads(p.stdout)
            avg_k = (hi * rule["k_hi"] + (L - hi) * rule["k_lo"]) / L if high else {"fp16": 16, "k2v2": 2, "k3v3": 3}[name]
            avg_v = (hi * rule["v_hi"] + (L - hi) * rule["v_lo"]) / L if high else {"fp16": 16, "k2v2": 2, "k3v3": 3}[name]
            rows.append({"variant": name, "ppl": j["ppl"], "avg_k_bits": avg_k, "avg_v_bits": avg_v,
                         "high_k": sorted(high[0]) if high else None, "high_v": sorted(high[1]) if high else None,
                         "seconds": round(time.time() - t0, 1)})
            print(f"{name}: ppl {j['ppl']:.4f}", file=sys.stderr)
    base = next((r["ppl"] for r in rows if r["variant"] == "fp16"), None)
    print(f"| variant | avg K bits | avg V bits | high K layers | high V layers | perplexity | vs fp16 |")
    print("|---|---:|---:|---|---|---:|---:|")
    for r in rows:
        rel = f"{(r['ppl'] / base - 1) * 100:+.2f}%" if base else ""
        hk = ",".join(map(str, r["high_k"])) if r["high_k"] else "-"
        hv = ",".join(map(str, r["high_v"])) if r["high_v"] else "-"
        print(f"| {r['variant']} | {r['avg_k_bits']:.4g} | {r['avg_v_bits']:.4g} | {hk} | {hv} | {r['ppl']:.4f} | {rel} |")
    print(json.dumps({"model": args.model, "ppl_args": args.ppl_args, "rule": args.rule, "n_high": hi, "rows": rows}))


if __name__ == "__main__":
    main()
