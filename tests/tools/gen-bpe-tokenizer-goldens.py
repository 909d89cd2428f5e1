#!/usr/bin/env python3
"""Byte-level BPE fixtures and goldens for tests/tokenizer/test-bpe-tokenizer{,-model}.cpp.

Writes, from independent implementations (Hugging Face `tokenizers` and `transformers`):

 1. The Qwen-style fixture (`fixture`): a small byte-level BPE vocabulary trained here with
    `tokenizers` on the corpus below, using Qwen 2's pre-tokenizer (its Split regex, then
    ByteLevel without regex), NFC normalizer, ByteLevel decoder, and Qwen's added tokens
    (<|endoftext|>, <|im_start|>, <|im_end|> special; <tool_call>, </tool_call> not
    special) after the learned vocabulary. Saved as
      tests/data/models/tokenizers/tiny-qwen2-bpe/tokenizer.json (+ tokenizer_config.json)
      tests/data/models/tokenizers/tiny-qwen2-bpe.gguf   (vocab-only, pre "qwen2")
    The GGUF follows llama.cpp's converter: byte-level pieces for the vocabulary, added
    tokens as raw text typed CONTROL (special) or USER_DEFINED, merges as "a b" strings.
    Goldens: `tokenizers.Tokenizer.from_file(tokenizer.json)`
      -> tests/data/tokenizer/tiny-qwen2-bpe-goldens.json
    Only NFC-stable strings are used there, since our tokenizer (like llama.cpp) does not
    apply the NFC normalizer.

 2. SmolLM2 goldens (`smollm2`) on the default model's GGUF
    (smollm2-135m-instruct-q4_1.gguf, pre "smollm"):
      -> tests/data/tokenizer/smollm2-goldens.json
    Reference: transformers' GGUF tokenizer loading
    (AutoTokenizer.from_pretrained(dir, gguf_file=...); no torch needed) rebuilds the
    vocabulary and merges from the GGUF, but gives every "gpt2" vocabulary a plain
    ByteLevel pre-tokenizer. SmolLM2's own tokenizer.json (HuggingFaceTB/SmolLM2-*) splits
    digits first: Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false,
    use_regex=true)]. So the goldens come from the `tokenizers` library running
    transformers' converted tokenizer with that pre-tokenizer put back. As an independent
    cross-check the script also encodes every case with transformers' GGUF tokenizer as
    loaded and requires the two to agree wherever the text has no numeric character
    (the only place the pre-tokenizers differ); it prints the cases that differ.
    SmolLM2's vocabulary lacks a few byte symbols (0x04, 0x06, 0x13, ...); Hugging Face
    (unk_token null) and llama.cpp drop such bytes, so those cases do not round-trip and
    are marked "round_trip": false.

Usage: gen-bpe-tokenizer-goldens.py [fixture] [smollm2] [--model PATH]
  (no argument: both). The model defaults to $KVMIX_DEFAULT_MODEL, else
  $XDG_DATA_HOME/kvmix/models/smollm2-135m-instruct-q4_1.gguf.
Needs: tokenizers, transformers, gguf, numpy (tests/tools/requirements.txt).
"""
import argparse
import json
import os
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
FIXTURE_DIR = DATA / "models" / "tokenizers"
FIXTURE_NAME = "tiny-qwen2-bpe"

# Qwen 2's Split pattern as its tokenizer.json spells it (llama.cpp's "qwen2" set).
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
               r"|\s+(?!\S)|\s+")

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
NOT_SPECIAL = ["<tool_call>", "</tool_call>"]

# Training text for the fixture: prose, code, numbers and a few scripts, so merges cover
# words, indentation, digits, CJK and Arabic byte sequences.
CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran away.",
    "A tokenizer turns text into numbers. Byte-level BPE starts from the 256 byte values and "
    "merges the most frequent pairs until the vocabulary is full.",
    "I'm sure they'll say it's fine, don't you think? We've seen it before; you're right, I'd agree.",
    "HE'S HERE. WE'LL SEE. THEY'RE LATE. I'M DONE. IT'S OVER. YOU'VE WON. SHE'D KNOW.",
    "Hello world! Hello, World. hello there. Hello again, old friend.",
    "def tokenize(text):\n    words = text.split()\n    return [w.lower() for w in words if w]\n",
    "for (int i = 0; i < n; ++i) {\n    sum += values[i] * 2;\n}\nreturn sum;\n",
    "if x == 42:\n\tprint('forty-two')\nelse:\n\tprint(\"something else\")\n",
    "Prices rose 3.5% in 2023, from 1,250 to 1,293.75 dollars; 10 20 30 40 50 100 1000 2024.",
    "The meeting is at 10:30 on 2024-05-17. Call +1 555 0100 or write to team@example.com.",
    "机器学习是人工智能的一个分支。我们今天学习分词。你好，世界！",
    "日本語のテキストです。東京は大きな都市です。",
    "مرحبا بالعالم. هذه جملة عربية قصيرة للاختبار.",
    "Привет, мир! Это короткий текст на русском языке.",
    "Emoji: 😀 😃 😄 👍 🎉 ❤️ 🚀 and ZWJ 👩‍💻 family 👨‍👩‍👧",
    "Ünïcödé façade naïve café résumé Ångström Straße",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>",
    "    indented line\n        more indented\n\n\n  two spaces\n",
]

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
    ("    \n\n\n    x   \n", False, True),
    ("emoji 😀 and ZWJ 👩‍💻 family 👨‍👩‍👧‍👦 flag 🇩🇪", False, True),
    ("中文测试，你好世界。日本語のテキスト", False, True),
    ("مرحبا بالعالم", False, True),
    ("1234567 3.14 -0.5e10 1,000,000", False, True),
    ("x=10; y=2024; z=007", False, True),
    ("I'm sure they'll say it's fine, don't you think? We've seen it.", False, True),
    ("HE'S HERE, WE'LL SEE, I'D SAY, YOU'RE RIGHT, THEY'VE GONE, I'M OUT", False, True),
    ("'s 'S 'll 'LL 'Ll", False, True),
    ("def f(x):\n    if x:\n        return [i * 2 for i in range(x)]\n    return None\n", False, True),
    ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False, True),
    ("<|im_start|>user\nHi<|im_end|>", False, False),  # control tokens as plain text
    ("<|im_start|>user\nHi<|im_end|>", True, True),
    ("text<|endoftext|>more", False, True),
    ("<tool_call>{\"a\": 1}</tool_call>", False, True),
    ("<tool_call>x</tool_call>", False, False),  # not special: matched either way
    ("Ünïcödé façade naïve café", False, True),
    ("\u00a0non-breaking\u2009thin\u3000ideographic spaces", False, True),
    ("zero\u200bwidth and soft\u00adhyphen", False, True),
    ("Ｆｕｌｌｗｉｄｔｈ　１２３ ½ x² ³", False, True),
    ("!!!!!! ... ??? --- ***", False, True),
]

# Cases only for SmolLM2 (no NFC normalizer there): decomposed accents, bytes it lacks.
SMOLLM2_EXTRA = [
    ("e\u0301 a\u0308 combining", False, True),
    ("ctrl\x04char\x1d end", False, True),
]


def write_goldens(path, head, cases):
    # One case per line keeps the file small and its diffs readable.
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n'
    text += ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases)
    text += "\n ]\n}\n"
    json.loads(text)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases to {path}")


def encode(tok, text, add_special, parse_special):
    """`tokenizers` ids; parse_special=False splits special tokens as text."""
    tok.encode_special_tokens = not parse_special
    return tok.encode(text, add_special_tokens=add_special).ids


def make_fixture():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=1100, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok.add_special_tokens(SPECIAL)
    tok.add_tokens(NOT_SPECIAL)

    out_dir = FIXTURE_DIR / FIXTURE_NAME
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"), pretty=False)
    config = {
        "add_prefix_space": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "model_max_length": 32768,
    }
    with open(out_dir / "tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")

    # The GGUF, as llama.cpp's converter writes a Qwen 2 vocabulary.
    import gguf
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    added = {a["id"]: a for a in spec["added_tokens"]}
    n = max(list(vocab.values()) + list(added)) + 1
    tokens, types = [None] * n, [0] * n
    for piece, i in vocab.items():
        tokens[i], types[i] = piece, gguf.TokenType.NORMAL
    for i, a in added.items():
        tokens[i] = a["content"]
        types[i] = gguf.TokenType.CONTROL if a["special"] else gguf.TokenType.USER_DEFINED
    assert all(t is not None for t in tokens), "ids must be dense"
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    ids = {t: i for i, t in enumerate(tokens)}
    path = FIXTURE_DIR / f"{FIXTURE_NAME}.gguf"
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("tiny-qwen2-bpe (vocabulary only)")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([int(t) for t in types])
    w.add_token_merges(merges)
    w.add_bos_token_id(ids["<|endoftext|>"])
    w.add_eos_token_id(ids["<|im_end|>"])
    w.add_pad_token_id(ids["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path} ({path.stat().st_size} bytes, {n} tokens, {len(merges)} merges) and {out_dir}/")

    cases = []
    for text, add_special, parse_special in CASES:
        assert unicodedata.is_normalized("NFC", text), f"not NFC: {text!r}"
        ids_ = encode(tok, text, add_special, parse_special)
        cases.append({"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids_})
    import tokenizers
    head = {
        "generator": "tests/tools/gen-bpe-tokenizer-goldens.py fixture",
        "reference": f"tokenizers {tokenizers.__version__} Tokenizer.from_file(tokenizer.json)",
        "model": FIXTURE_NAME,
        "n_vocab": n,
    }
    write_goldens(DATA / "tokenizer" / f"{FIXTURE_NAME}-goldens.json", head, cases)


def default_model():
    env = os.environ.get("KVMIX_DEFAULT_MODEL")
    if env:
        return env
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "kvmix", "models", "smollm2-135m-instruct-q4_1.gguf")


def make_smollm2(model_path):
    import transformers
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import AutoTokenizer

    model = Path(model_path).resolve()
    if not model.is_file():
        sys.exit(f"model not found: {model}")
    hf = AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name)
    tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])

    cases, differ = [], []
    for text, add_special, parse_special in CASES + SMOLLM2_EXTRA:
        ids = encode(tok, text, add_special, parse_special)
        plain = hf(text, add_special_tokens=add_special, split_special_tokens=not parse_special)["input_ids"]
        if plain != ids:
            differ.append(text)
            if not any(unicodedata.category(c).startswith("N") for c in text):
                sys.exit(f"transformers' GGUF tokenizer disagrees on a text without digits: {text!r}\n {plain}\n {ids}")
        case = {"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids}
        if tok.decode(ids, skip_special_tokens=False) != text:
            case["round_trip"] = False
        cases.append(case)
    print(f"transformers' GGUF tokenizer (ByteLevel only) differs on {len(differ)} digit case(s): {differ}")
    head = {
        "generator": "tests/tools/gen-bpe-tokenizer-goldens.py smollm2",
        "reference": f"transformers {transformers.__version__} AutoTokenizer.from_pretrained(gguf_file=...) vocabulary "
                     f"and merges, run by tokenizers with SmolLM2's Digits + ByteLevel pre-tokenizer",
        "model": model.name,
        "n_vocab": len(hf),
        "bos": hf.bos_token_id,
        "eos": hf.eos_token_id,
    }
    write_goldens(DATA / "tokenizer" / "smollm2-goldens.json", head, cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="*", help="fixture, smollm2 (default: both)")
    ap.add_argument("--model", default=default_model())
    args = ap.parse_args()
    what = args.what or ["fixture", "smollm2"]
    if set(what) - {"fixture", "smollm2"}:
        ap.error(f"unknown target(s): {sorted(set(what) - {'fixture', 'smollm2'})}")
    if "fixture" in what:
        make_fixture()
    if "smollm2" in what:
        make_smollm2(args.model)


if __name__ == "__main__":
    main()
