#!/usr/bin/env python3
"""Renders the KV-cache benchmark plots from `kvmix bench --json` output.

usage: plot-results.py BENCH.json [BENCH2.json ...] [--out tests/bench/plots] [--prefix synth]

Every input is the JSON object `kvmix bench --json` prints (rows with ctx, kv, decode_tps,
kv_true_bytes, kv_fp16_bytes, compression); rows of several files are merged (a later file
wins for the same kv/ctx pair). Writes two small PNGs:
  PREFIX-memory.png   KV-cache true bytes vs context depth, one line per --kv spec
  PREFIX-decode.png   decode tokens/s vs context depth, one line per --kv spec
and prints a Markdown table of the rows (compression and the decode ratio to fp16 at the
same depth) for RESULTS.md.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_rows(paths):
    rows = {}
    meta = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # `kvmix bench --json` prints one JSON object on stdout; tolerate log lines around it.
        start = text.index("{")
        doc = json.loads(text[start:text.rindex("}") + 1])
        meta = {k: v for k, v in doc.items() if k != "rows"}
        for r in doc["rows"]:
            rows[(r["kv"], int(r["ctx"]))] = r
    return meta, rows


def series(rows):
    by_kv = {}
    for (kv, ctx), r in sorted(rows.items(), key=lambda kv_ctx: kv_ctx[0][1]):
        by_kv.setdefault(kv, []).append(r)
    return by_kv


def plot(by_kv, key, ylabel, title, path, scale=1.0, fp16_ref=False):
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=100)
    for kv, rs in by_kv.items():
        ax.plot([r["ctx"] for r in rs], [r[key] * scale for r in rs], marker="o", label=kv)
    if fp16_ref and "fp16" not in by_kv and by_kv:
        rs = next(iter(by_kv.values()))
        ax.plot([r["ctx"] for r in rs], [r["kv_fp16_bytes"] * scale for r in rs], "k--", label="fp16 (same tokens)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context depth (tokens)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "plots"))
    ap.add_argument("--prefix", default="bench")
    args = ap.parse_args()
    meta, rows = load_rows(args.inputs)
    if not rows:
        sys.exit("no rows in the input")
    os.makedirs(args.out, exist_ok=True)
    by_kv = series(rows)
    model = meta.get("model", "model")
    threads = meta.get("threads", "?")
    mem_png = os.path.join(args.out, args.prefix + "-memory.png")
    dec_png = os.path.join(args.out, args.prefix + "-decode.png")
    plot(by_kv, "kv_true_bytes", "KV cache (MiB, true bytes)", f"{model}: KV cache memory vs context", mem_png,
         scale=1.0 / 1048576, fp16_ref=True)
    plot(by_kv, "decode_tps", "decode tokens/s", f"{model}: decode speed vs context ({threads} threads)", dec_png)
    print(f"wrote {mem_png}\nwrote {dec_png}\n")
    fp16 = {ctx: r for (kv, ctx), r in rows.items() if kv == "fp16"}
    print("| KV | depth | decode tok/s | vs fp16 | KV MiB | fp16 MiB | compression |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kv, rs in by_kv.items():
        for r in rs:
            base = fp16.get(r["ctx"])
            ratio = f"{r['decode_tps'] / base['decode_tps']:.2f}x" if base else "—"
            print(f"| {kv} | {r['ctx']} | {r['decode_tps']:.2f} | {ratio} | {r['kv_true_bytes'] / 1048576:.1f} | "
                  f"{r['kv_fp16_bytes'] / 1048576:.1f} | {r['compression']:.2f}x |")


if __name__ == "__main__":
    main()
