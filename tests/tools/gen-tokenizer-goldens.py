#!/usr/bin/env python3
"""Writes tests/data/tokenizer/gemma3-goldens.json: token ids for tricky strings, computed
by an independent implementation -- Hugging Face transformers converting the GGUF's
vocabulary into a `tokenizers` (Rust) tokenizer -- for test-tokenizer-model to compare
against our sentencepiece-based GGUF tokenizer.

Usage: gen-tokenizer-goldens.py [--model PATH] [--out PATH]
The model defaults to $KVMIX_DEFAULT_MODEL, else
$XDG_DATA_HOME/kvmix/models/gemma-3-270m-q4_k_m.gguf (~/.local/share/... by default).
Needs: transformers, tokenizers, gguf, protobuf (transformers' GGUF loader; in the venv
used it also had torch installed). Loading the 262k-token vocabulary takes ~1 minute.
"""
import argparse
import json
import os
import sys
from pathlib import Path

CASES = [
    # (text, add_special, parse_special)
    ("", False, True),
    ("Hello world", False, True),
    ("Hello world", True, True),
    (" Hello", False, True),
    ("  leading two", False, True),
    ("trailing spaces   ", False, True),
    ("a  b   c    d", False, True),
    ("tab\tseparated\t\tvalues", False, True),
    ("\n", False, True),
    ("\n\n", False, True),
    ("line one\nline two\n\nline four", False, True),
    ("windows\r\nline\r\n", False, True),
    ("emoji 😀 and ZWJ 👩‍💻 family 👨‍👩‍👧‍👦 flag 🇩🇪", False, True),
    ("中文测试，你好世界。日本語のテキスト", False, True),
    ("مرحبا بالعالم", False, True),
    ("1234567 3.14 -0.5e10 1,000,000", False, True),
    ("def f(x):\n    if x:\n        return [i * 2 for i in range(x)]\n    return None\n", False, True),
    ("<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n", False, True),
    ("<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n", False, True),
    ("<start_of_turn>user\nHi<end_of_turn>", False, False),  # control pieces as plain text
    ("<table><tr><td>cell</td></tr></table>", False, True),
    ("Ünïcödé façade naïve café", False, True),
    ("\u00a0non-breaking\u2009thin\u3000ideographic spaces", False, True),
    ("zero\u200bwidth and soft\u00adhyphen", False, True),
]


def default_model():
    env = os.environ.get("KVMIX_DEFAULT_MODEL")
    if env:
        return env
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "kvmix", "models", "gemma-3-270m-q4_k_m.gguf")


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--out", default=str(here.parent / "data" / "tokenizer" / "gemma3-goldens.json"))
    args = ap.parse_args()

    import transformers
    from transformers import AutoTokenizer

    model = Path(args.model).resolve()
    if not model.is_file():
        sys.exit(f"model not found: {model}")
    tok = AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name)

    cases = []
    for text, add_special, parse_special in CASES:
        # parse_special=False: HF's split_special_tokens (control tokens tokenized as text).
        ids = tok(text, add_special_tokens=add_special, split_special_tokens=not parse_special)["input_ids"]
        cases.append({"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids})

    out = {
        "generator": "tests/tools/gen-tokenizer-goldens.py",
        "reference": f"transformers {transformers.__version__} AutoTokenizer.from_pretrained(gguf_file=...), "
                     f"{type(tok).__name__}",
        "model": model.name,
        "n_vocab": len(tok),
        "bos": tok.bos_token_id,
        "eos": tok.eos_token_id,
        "unk": tok.unk_token_id,
        "pad": tok.pad_token_id,
        "cases": cases,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # One case per line keeps the file small and its diffs readable.
    head = {k: v for k, v in out.items() if k != "cases"}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n'
    text += ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases)
    text += "\n ]\n}\n"
    json.loads(text)  # well-formed
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
