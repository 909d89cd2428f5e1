#!/usr/bin/env python3
"""Runs the kvmix CLI as a user would and checks what it prints.

Fixture mode: `kvmix info --json` on every fixture in tests/data/models/MANIFEST.json must
report the values the generator wrote; `kvmix tokenize --json` must give the Python
sentencepiece ids in tokenizer-goldens.json; corrupt files must fail with a message and a
plain non-zero exit (never a signal).
Default-model mode (--default-model): the same `info` checks against the facts of the
SmolLM2-135M-Instruct GGUF (the default) and of Gemma 3 270M (`-m gemma-3-270m`), a chat
answer and tokenization; skipped (exit 77) when the default model is not installed.
KV-regression mode (--kv-regression): the default model through the KV presets on a fixed
text, against the perplexity and KL divergence recorded in the repository (see
check_kv_regression).
Under CI a skip fails unless tests/expected-skips.txt lists it (see skip_verdict).
Standard library only: CI runs this without the tooling venv.
"""
import argparse
import json
import os
import subprocess
import sys

failures = []
passed = 0
# The CTest name of this run (tests/cli/CMakeLists.txt), for the skip policy.
test_name = "cli-fixtures"


def skip_verdict(message):
    """The skip policy of tests/support/skip-policy.h: outside CI a skip is a skip; under CI
    (CI set to anything but "", "0" or "false") it is a failure unless tests/expected-skips.txt
    has a '<test> | <part of the message> | <reason>' line for it. Returns (allowed, note)."""
    ci = os.environ.get("CI", "")
    if ci in ("", "0", "false"):
        return True, ""
    path = os.environ.get("KVMIX_EXPECTED_SKIPS") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "expected-skips.txt")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return False, f"CI is set and the expected-skips file '{path}' cannot be read ({e.strerror})"
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [x.strip() for x in line.split("|")]
        if len(fields) != 3 or not all(fields):
            return False, f"{path}:{number}: expected '<test name> | <substring of the skip message> | <why it is expected in CI>'"
        if fields[0] == test_name and fields[1] in message:
            return True, "expected in CI: " + fields[2]
    return False, (f"a skip under CI counts as a failure: fix what the test needs, or list it in '{path}' as "
                   f"'{test_name} | <part of the message> | <why it is expected in CI>'")


def skip_part(message):
    """Skips one part of the run (or fails it, see skip_verdict)."""
    allowed, note = skip_verdict(message)
    if allowed:
        print(f"SKIP {message}" + (f" -- {note}" if note else ""))
    else:
        check(False, f"skipped ({message}) -- {note}")


def skip_all(message):
    """Ends the run as skipped (exit 77), or failed under CI (see skip_verdict)."""
    allowed, note = skip_verdict(message)
    if allowed:
        print(f"SKIP: {message}" + (f" -- {note}" if note else ""))
        sys.exit(77)
    print(f"FAILED: skipped ({message}) -- {note}", file=sys.stderr)
    sys.exit(1)


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAILED:", what, file=sys.stderr)


def run(kvmix, *args):
    p = subprocess.run([kvmix, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def info(kvmix, path):
    rc, out, err = run(kvmix, "info", "-m", path, "--json")
    if rc != 0:
        failures.append(f"kvmix info {path} failed ({rc}): {err.strip()}")
        return None
    return json.loads(out)


def check_fixture(kvmix, models_dir, fx):
    path = os.path.join(models_dir, fx["path"])
    j = info(kvmix, path)
    if j is None:
        return
    name = fx["path"]
    for key in ("n_layer", "n_head", "n_head_kv", "head_dim", "n_embd", "n_ff", "n_vocab", "context_length",
                "tensor_count"):
        check(j[key] == fx[key], f"{name}: {key} = {j[key]}, manifest says {fx[key]}")
    # kvmix names architectures as GGUF does; HF's multimodal-era "gemma3_text" is "gemma3".
    arch = {"gemma3_text": "gemma3"}.get(fx["architecture"], fx["architecture"])
    check(j["architecture"] == arch, f"{name}: architecture {j['architecture']} vs {arch}")
    check(j["tensor_types"] == fx["tensor_types"], f"{name}: tensor types {j['tensor_types']} vs {fx['tensor_types']}")
    check(j["format"] == fx["format"], f"{name}: format {j['format']} vs {fx['format']}")
    sw = fx.get("sliding_window") or 0
    check(j["sliding_window"] == sw, f"{name}: sliding_window {j['sliding_window']} vs {sw}")
    check(j["n_sliding_layers"] == len(fx.get("sliding_layers") or []),
          f"{name}: {j['n_sliding_layers']} sliding layers vs {fx.get('sliding_layers')}")
    check(j["chat_template"]["present"] == bool(fx.get("chat_template")),
          f"{name}: chat template present {j['chat_template']['present']} vs {fx.get('chat_template')}")
    check(abs(j["rope_theta"] - fx["rope_freq_base"]) <= 1e-3 * fx["rope_freq_base"],
          f"{name}: rope_theta {j['rope_theta']} vs {fx['rope_freq_base']}")
    check(abs(j["rms_eps"] - fx["rms_norm_eps"]) <= 1e-3 * fx["rms_norm_eps"], f"{name}: rms_eps {j['rms_eps']}")
    tied = fx["tied_embeddings"] if "tied_embeddings" in fx else not fx["has_output"]
    check(j["tied_embeddings"] == tied, f"{name}: tied_embeddings {j['tied_embeddings']} vs {tied}")
    if fx["format"] == "gguf":
        # llama.cpp's converter writes llama3 scaling as a rope_freqs tensor, not metadata.
        check(j["rope_freqs"] == fx["has_rope_freqs"], f"{name}: rope_freqs {j['rope_freqs']} vs {fx['has_rope_freqs']}")
        check(j["special_tokens"]["bos"] == fx["bos_id"] and j["special_tokens"]["eos"] == fx["eos_id"],
              f"{name}: bos/eos {j['special_tokens']} vs {fx['bos_id']}/{fx['eos_id']}")
    else:
        scaling = fx.get("rope_scaling")
        want_type = (scaling or {}).get("rope_type") or (scaling or {}).get("type") or "none"
        check(j["rope_scaling"]["type"] == want_type, f"{name}: rope scaling {j['rope_scaling']} vs {scaling}")
    # The human-readable form must also work and mention the architecture.
    rc, out, err = run(kvmix, "info", "-m", path)
    check(rc == 0 and arch in out, f"{name}: human-readable info failed: {err.strip()}")


def check_tokenize(kvmix, models_dir, goldens, fixtures):
    """Every fixture's tokenizer (GGUF-built or tokenizer.model) against Python sentencepiece."""
    for fx in fixtures:
        tok_name = "gemma-spm" if fx["model"].startswith("tiny-gemma3") else "llama-spm"
        path = os.path.join(models_dir, fx["path"])
        for case in goldens["tokenizers"][tok_name]["cases"]:
            rc, out, err = run(kvmix, "tokenize", "-m", path, "--json", "--no-bos", "--no-special", "--", case["text"])
            if rc != 0:
                failures.append(f"tokenize on {fx['path']} failed: {err.strip()}")
                continue
            ids = json.loads(out)["ids"]
            check(ids == case["ids"], f"tokenize {case['text']!r} on {fx['path']}: {ids} vs {case['ids']}")


def check_vocab_only(kvmix, shared_dir):
    """`kvmix tokenize` on llama.cpp's vocab-only GGUFs (no tensors), against their vectors."""
    vocab_dir = os.path.join(shared_dir, "tokenizers")
    if not os.path.isdir(vocab_dir):
        skip_part(f"vocab-only tokenize: {vocab_dir} is absent")
        return
    for name in ("ggml-vocab-gpt-2", "ggml-vocab-llama-spm"):
        path = os.path.join(vocab_dir, name + ".gguf")
        with open(path + ".inp", encoding="utf-8") as f:
            inputs = f.read().split("\n__ggml_vocab_test__\n")
        with open(path + ".out", encoding="utf-8") as f:
            outputs = f.read().split("\n")
        # A handful of vectors through the CLI; the tokenizer tests check every one.
        for text, line in list(zip(inputs, outputs))[:8]:
            want = [int(x) for x in line.split()]
            rc, out, err = run(kvmix, "tokenize", "-m", path, "--json", "--no-bos", "--", text)
            got = json.loads(out)["ids"] if rc == 0 else None
            check(got == want, f"tokenize {text!r} with the vocab-only {name}: {got} vs {want} ({err.strip()})")


def check_errors(kvmix, data_dir, tmp):
    cases = []
    missing = os.path.join(tmp, "does-not-exist.gguf")
    cases.append((missing, "does not exist"))
    junk = os.path.join(tmp, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"this is not a model at all" * 10)
    cases.append((junk, "bad magic"))
    empty_dir = os.path.join(tmp, "empty-folder")
    os.makedirs(empty_dir, exist_ok=True)
    cases.append((empty_dir, "config.json"))
    corrupt_dir = os.path.join(data_dir, "corrupt")
    expected_path = os.path.join(corrupt_dir, "expected.json")
    if os.path.exists(expected_path):
        with open(expected_path) as f:
            expected = json.load(f)
        items = expected.items() if isinstance(expected, dict) else [(e["file"], e["error"]) for e in expected]
        for fname, msg in items:
            if fname.endswith(".gguf"):
                cases.append((os.path.join(corrupt_dir, fname), msg if isinstance(msg, str) else msg.get("error", "")))
    for path, msg in cases:
        rc, out, err = run(kvmix, "info", "-m", path)
        check(rc == 1, f"info on {os.path.basename(path)} exits 1 (got {rc}; a negative code is a crash)")
        check(msg in err, f"info on {os.path.basename(path)}: stderr {err.strip()!r} lacks {msg!r}")
        check("\n" == err[-1:] and err.count("\n") <= 3, f"info on {os.path.basename(path)}: error is one short message")
    rc, out, err = run(kvmix, "info")
    check(rc == 2 and "usage" in err, "info without -m prints usage and exits 2")
    rc, out, err = run(kvmix, "no-such-command")
    check(rc == 2, "an unknown command exits 2")
    # Every command's --help prints its usage once, to stdout, and exits 0.
    for cmd in ("info", "tokenize", "generate", "chat", "perplexity", "bench", "passkey", "profile", "presets"):
        for flag in ("--help", "-h"):
            rc, out, err = run(kvmix, cmd, flag)
            check(rc == 0 and out.count("usage: kvmix " + cmd) == 1 and err == "",
                  f"kvmix {cmd} {flag}: usage once on stdout, exit 0 (rc {rc}, out {out!r}, err {err!r})")
    rc, out, err = run(kvmix, "--version")
    check(rc == 0 and out.startswith("kvmix "), "--version prints the version")


def check_run_commands(kvmix, models_dir, tmp):
    """generate, perplexity and bench on a tiny fixture: deterministic greedy text that
    matches `tokenize`, reproducible seeded sampling, perplexity JSON, bench JSON rows."""
    model = os.path.join(models_dir, "tiny-llama-q8_0.gguf")
    gen = ["generate", "-m", model, "-p", "The license", "-n", "12", "--temp", "0", "--threads", "2"]
    rc, out1, err1 = run(kvmix, *gen)
    check(rc == 0, f"generate exits 0 ({err1.strip()})")
    rc, out2, _ = run(kvmix, *gen)
    check(out1 == out2 and len(out1.strip()) > 0, "greedy generate is deterministic and produces text")
    check("[max-tokens] prompt" in err1 and "tok/s" in err1, f"generate prints stats to stderr: {err1.strip()!r}")
    prompt_file = os.path.join(tmp, "prompt.txt")
    with open(prompt_file, "w") as f:
        f.write("The license")
    rc, out3, err3 = run(kvmix, "generate", "-m", model, "-f", prompt_file, "-n", "12", "--temp", "0", "--threads", "2")
    check(rc == 0 and out3 == out1, f"generate -f FILE reads the prompt from the file ({err3.strip()})")
    rc, _, err = run(kvmix, "generate", "-m", model, "-f", os.path.join(tmp, "missing.txt"))
    check(rc == 1 and "cannot open prompt file" in err, f"generate -f with a missing file: {err.strip()!r}")
    rc, _, err = run(kvmix, "generate", "-m", model, "-f", prompt_file, "-p", "both")
    check(rc == 2 and "usage" in err, "generate with both -p and -f prints usage and exits 2")
    seeded = ["generate", "-m", model, "-p", "The license", "-n", "12", "--temp", "1", "--seed", "7", "--top-k", "0",
              "--top-p", "1", "--min-p", "0"]
    rc, s1, _ = run(kvmix, *seeded)
    rc, s2, _ = run(kvmix, *seeded)
    check(s1 == s2, "seeded sampling is reproducible across runs")
    rc, _, err = run(kvmix, "generate", "-m", model, "-p", "x", "--temp", "-1")
    check(rc == 1 and "temperature" in err, f"a negative temperature is a clear error ({err.strip()})")
    rc, _, err = run(kvmix, "generate", "-m", model, "-p", "x", "--top-k", "many")
    check(rc == 1 and "--top-k expects an integer" in err, f"a bad number is a clear error ({err.strip()})")
    rc, _, err = run(kvmix, "generate", "-m", model, "-p", "x " * 300, "-n", "8")
    check(rc == 1 and "exceed the context" in err, f"an oversized prompt is refused under the default policy ({err.strip()})")
    rc, out, err = run(kvmix, "generate", "-m", model, "-p", "x " * 300, "-n", "8", "--context-policy", "truncate")
    check(rc == 0 and "[context] dropped" in err, f"truncation is reported ({err.strip()})")

    text = os.path.join(tmp, "text.txt")
    with open(text, "w") as f:
        f.write(" ".join(f"word{i % 97} is followed by word{(i * 7) % 97}." for i in range(400)))
    rc, out, err = run(kvmix, "perplexity", "-m", model, "-f", text, "--ctx", "64", "--chunk", "16", "--json")
    check(rc == 0, f"perplexity exits 0 ({err.strip()})")
    if rc == 0:
        j = json.loads(out)
        check(1.0 < j["ppl"] < 1e6 and j["tokens"] > 0 and j["seconds"] >= 0, f"perplexity JSON is sane: {j}")
        # Chunk size changes only the grouping, not the result.
        rc, out2, _ = run(kvmix, "perplexity", "-m", model, "-f", text, "--ctx", "64", "--chunk", "64", "--json")
        j2 = json.loads(out2)
        check(abs(j2["ppl"] - j["ppl"]) < 1e-2 * j["ppl"], f"perplexity independent of --chunk: {j['ppl']} vs {j2['ppl']}")
    rc, out, err = run(kvmix, "bench", "-m", model, "--ctx", "32,64", "--gen", "4", "--json")
    check(rc == 0, f"bench exits 0 ({err.strip()})")
    if rc == 0:
        j = json.loads(out)
        rows = j["rows"]
        check([r["ctx"] for r in rows] == [32, 64], f"bench rows for each depth: {rows}")
        for r in rows:
            check(all(r[k] > 0 for k in ("prefill_tps", "decode_tps", "kv_bytes", "bound_tps")), f"bench row values: {r}")
        # fp16 KV bytes: 2 layers x 2 KV heads x (16 + 16) dims x 2 bytes per token.
        check(rows[0]["kv_bytes"] == 32 * 2 * 2 * 32 * 2, f"bench kv_bytes at depth 32: {rows[0]['kv_bytes']}")
    # --rounds interleaves the specs' decode: the same rows (spec order, depths, bytes) as one
    # round, every spec timed; more rounds than tokens is refused by name.
    rc, out, err = run(kvmix, "bench", "-m", model, "--ctx", "32", "--gen", "6", "--kv", "fp16,k2v2", "--fill", "random",
                       "--rounds", "3", "--json")
    check(rc == 0, f"bench --rounds 3 exits 0 ({err.strip()})")
    if rc == 0:
        j = json.loads(out)
        rows = j["rows"]
        check(j["rounds"] == 3 and [r["kv"] for r in rows] == ["fp16", "k2v2"], f"bench --rounds rows: {rows}")
        check(all(r["decode_tps"] > 0 for r in rows), f"bench --rounds decode speeds: {rows}")
        check(rows[0]["kv_bytes"] == 32 * 2 * 2 * 32 * 2, f"bench --rounds fp16 kv_bytes: {rows[0]['kv_bytes']}")
        # With rounds the bound comes from the probes taken between them (one before each of
        # rounds 1-2 and one after the last): their median over the bytes a token reads.
        for r in rows:
            probes = sorted(r["bandwidth_probes"])
            check(len(probes) == 3 and probes[0] > 0 and r["bandwidth_bytes_per_s"] == probes[1],
                  f"bench --rounds bandwidth is the median of 3 probes: {r}")
            check(abs(r["bound_tps"] * r["read_bytes_per_token"] - probes[1]) < 1e-6 * probes[1] and r["bound_tps_start"] > 0,
                  f"bench --rounds bounds: {r}")
    rc, _, err = run(kvmix, "bench", "-m", model, "--ctx", "32", "--gen", "2", "--rounds", "3")
    check(rc != 0 and "--rounds" in err, f"bench --rounds beyond --gen is refused by name ({err.strip()})")


def check_perplexity_kld(kvmix, models_dir, tmp):
    """perplexity --kld: a cache against itself gives KLD 0 and top-1 1.0 exactly; k2v2 against
    fp16 gives KLD > 0, and its mean, p99 and top-1 equal a recomputation here from logits
    the plain mode dumps in separate processes (so the pairing, the log-sum-exp and the
    percentile are checked against an independent implementation)."""
    from array import array
    import math
    model = os.path.join(models_dir, "tiny-llama-q8_0.gguf")
    n_vocab = 512  # the fixture's vocabulary (MANIFEST.json)
    text = os.path.join(tmp, "kld-text.txt")
    with open(text, "w") as f:
        f.write(" ".join(f"word{i % 89} comes before word{(i * 11) % 89}." for i in range(600)))
    # ctx 256 with chunks of 32: the sinks (4) and the window (32 tokens) leave whole groups
    # that k2v2 quantizes, so the scored half reads 2-bit codes.
    common = ["perplexity", "-m", model, "-f", text, "--ctx", "256", "--chunk", "32", "--max-windows", "2", "--json"]

    def ppl_json(*extra):
        rc, out, err = run(kvmix, *common, *extra)
        check(rc == 0, f"perplexity {' '.join(extra)} exits 0 ({err.strip()})")
        return json.loads(out) if rc == 0 else None

    same = ppl_json("--kv", "fp16", "--kld")
    if same:
        check(same["kld"]["mean"] == 0.0 and same["kld"]["p99"] == 0.0 and same["kld"]["max"] == 0.0,
              f"fp16 against fp16: KLD exactly 0 ({same['kld']})")
        check(same["top1_agreement"] == 1.0 and same["ppl"] == same["base"]["ppl"] and same["ppl_delta_pct"] == 0.0,
              f"fp16 against fp16: top-1 1.0, equal perplexities ({same})")
    same32 = ppl_json("--kv", "fp16", "--base", "fp16", "--kv-cache", "f32")
    if same32:
        check(same32["kld"]["max"] == 0.0 and same32["top1_agreement"] == 1.0, f"f32 against f32: KLD 0 ({same32['kld']})")

    q_dump, b_dump = os.path.join(tmp, "k2v2.f32"), os.path.join(tmp, "fp16.f32")
    quant = ppl_json("--kv", "k2v2", "--kld", "--dump-logits", q_dump)
    plain_q = ppl_json("--kv", "k2v2")
    plain_b = ppl_json("--kv", "fp16", "--dump-logits", b_dump)
    if not (quant and plain_q and plain_b):
        return
    n = quant["tokens"]
    check(n == 256 and plain_b["tokens"] == n, f"two windows of 128 scored tokens: {n}")
    check(quant["kv_bytes"] < quant["kv_fp16_bytes"] == plain_b["kv_bytes"], f"k2v2 stores fewer bytes than fp16: {quant}")
    # The comparison mode scores each cache exactly as the plain mode does.
    check(quant["ppl"] == plain_q["ppl"] and quant["base"]["ppl"] == plain_b["ppl"],
          f"--kld perplexities equal the plain runs: {quant['ppl']} / {plain_q['ppl']}, {quant['base']['ppl']} / {plain_b['ppl']}")
    rows = {}
    for name, path in (("q", q_dump), ("b", b_dump)):
        a = array("f")
        with open(path, "rb") as f:
            a.frombytes(f.read())
        check(len(a) == n * n_vocab, f"--dump-logits {name}: {len(a)} floats, expected {n} x {n_vocab}")
        rows[name] = a
    if len(rows["q"]) != n * n_vocab or len(rows["b"]) != n * n_vocab:
        return

    def log_softmax(row):
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        return [x - lse for x in row]

    kls, agree = [], 0
    for t in range(n):
        b = rows["b"][t * n_vocab:(t + 1) * n_vocab]
        q = rows["q"][t * n_vocab:(t + 1) * n_vocab]
        lb, lq = log_softmax(b), log_softmax(q)
        kls.append(sum(math.exp(x) * (x - y) for x, y in zip(lb, lq)))
        agree += b.index(max(b)) == q.index(max(q))
    mean = sum(kls) / n
    s = sorted(kls)
    pos = 0.99 * (n - 1)
    lo = int(pos)
    p99 = s[lo] + (pos - lo) * (s[min(lo + 1, n - 1)] - s[lo])
    k = quant["kld"]
    check(mean > 0 and k["mean"] > 0 and min(kls) > -1e-12, f"k2v2 against fp16: KLD > 0 ({k}, recomputed {mean})")
    check(math.isclose(k["mean"], mean, rel_tol=1e-9, abs_tol=1e-15), f"mean KLD {k['mean']} vs recomputed {mean}")
    check(math.isclose(k["p99"], p99, rel_tol=1e-9, abs_tol=1e-15), f"p99 KLD {k['p99']} vs recomputed {p99}")
    check(math.isclose(k["max"], s[-1], rel_tol=1e-9, abs_tol=1e-15), f"max KLD {k['max']} vs recomputed {s[-1]}")
    check(0.0 <= quant["top1_agreement"] <= 1.0 and quant["top1_agreement"] == agree / n,
          f"top-1 agreement {quant['top1_agreement']} vs recomputed {agree / n}")

    # Several caches in one pass share the baseline and give the single-cache numbers.
    rc, out, err = run(kvmix, *common, "--kv", "k2v2,fp16", "--kld")
    multi = [json.loads(line) for line in out.splitlines()] if rc == 0 else []
    check(len(multi) == 2 and [m["kv"] for m in multi] == ["k2v2", "fp16"], f"--kv k2v2,fp16: one JSON line each ({out!r} {err.strip()})")
    if len(multi) == 2:
        check(multi[0]["ppl"] == quant["ppl"] and multi[0]["kld"] == quant["kld"] and multi[0]["top1_agreement"] == quant["top1_agreement"],
              f"a cache in a list scores as alone: {multi[0]} vs {quant}")
        check(multi[1]["kld"]["max"] == 0.0 and multi[1]["top1_agreement"] == 1.0, f"fp16 in a list against fp16: {multi[1]}")
    rc, _, err = run(kvmix, *common, "--kv", "k2v2,k4v4", "--dump-logits", q_dump)
    check(rc == 1 and "single --kv" in err, f"--dump-logits with several caches is refused ({err.strip()})")

    # Window bounds in tokens: at 256 tokens the 10% rule gives the 32-token minimum, so a
    # fixed window of 32 is the same cache; a fixed 64 keeps more fp16 tokens.
    fixed32 = ppl_json("--kv", "k2v2", "--kv-window", "0", "--kv-window-min", "32")
    fixed64 = ppl_json("--kv", "k2v2", "--kv-window", "0", "--kv-window-min", "64")
    if fixed32 and fixed64:
        check(fixed32["ppl"] == plain_q["ppl"] and fixed32["kv_bytes"] == plain_q["kv_bytes"],
              f"fixed window 32 = the default at 256 tokens: {fixed32} vs {plain_q}")
        check(plain_q["kv_bytes"] < fixed64["kv_bytes"] < plain_b["kv_bytes"], f"fixed window 64 stores more: {fixed64}")
    rc, _, err = run(kvmix, *common, "--kv", "k2v2", "--kv-window-min", "64", "--kv-window-max", "32")
    check(rc == 1 and "window bounds" in err, f"inverted window bounds are a clear error ({err.strip()})")

    # Text mode keeps the plain first line and adds the comparison.
    rc, out, err = run(kvmix, *common[:-1], "--kv", "k2v2", "--kld")
    lines = out.splitlines()
    check(rc == 0 and lines[0].startswith("perplexity ") and "kv k2v2" in lines[0] and "base perplexity" in lines[1]
          and "KL divergence" in lines[2] and "top-1 agreement" in lines[2], f"--kld text output: {out!r} ({err.strip()})")
    rc, _, err = run(kvmix, *common, "--kld", "--base", "k9v9")
    check(rc == 1 and "k9v9" in err, f"a bad --base is a clear error ({err.strip()})")
    rc, _, err = run(kvmix, *common, "--dump-logits", os.path.join(tmp, "no-such-dir", "x.f32"))
    check(rc == 1 and "cannot create logits file" in err, f"an unwritable --dump-logits is a clear error ({err.strip()})")


def check_doctor(kvmix, models_dir):
    """`kvmix doctor`: without a GPU it says so and passes; with one, the self-check on a
    fixture model must run and pass (a GPU whose logits differ from the CPU's fails it)."""
    model = os.path.join(models_dir, "tiny-llama-q8_0.gguf")
    rc, out, err = run(kvmix, "doctor", "-m", model, "--json")
    try:
        j = json.loads(out)
    except ValueError:
        check(False, f"doctor --json prints JSON (rc {rc}, stderr {err!r})")
        return
    check(j["cpu"]["kernels"] in ("avx2", "scalar"), f"doctor names the CPU kernels: {j['cpu']}")
    check(j["cpu"].get("kvmix_attention") in ("int8 AVX-512 VNNI", "int8 AVX-VNNI", "int8 AVX2", "fp32 AVX2", "scalar"),
          f"doctor names the KVmix attention path: {j['cpu']}")
    if j["cuda"]["built"]:
        # cuBLAS loads without a GPU: the doctor says whether it does, with its name or the reason.
        cb = j.get("cublas", {})
        check(cb.get("library", "").startswith("libcublas") if cb.get("available") else cb.get("reason", "") != "",
              f"doctor reports whether cuBLAS loads: {cb}")
    else:
        check("cublas" not in j, "doctor without the CUDA backend does not report cuBLAS")
    if not j["cuda"]["available"]:
        check(rc == 0, f"doctor without a GPU exits 0 (rc {rc})")
        check(j["self_check"]["ran"] is False and "no GPU" in j["self_check"]["summary"],
              f"doctor without a GPU says the self-check did not run: {j['self_check']}")
        check(j["cuda"]["reason"] != "", "doctor gives the reason CUDA is not available")
    else:
        check(rc == 0 and j["self_check"]["passed"] is True, f"GPU self-check passes: {j['self_check']}")
    rc, out, _ = run(kvmix, "doctor", "-m", model)
    check(rc in (0, 1) and "Self-check" in out and "CPU" in out, f"doctor prints its report (rc {rc}): {out!r}")
    check(("cuBLAS" in out) == j["cuda"]["built"], f"doctor's report has a cuBLAS line exactly when CUDA is built: {out!r}")
    rc, _, err = run(kvmix, "doctor", "stray")
    check(rc == 2, f"doctor refuses a stray argument with exit 2 (rc {rc}, {err!r})")


def check_profile_commands(kvmix, models_dir, tmp):
    """profile and presets on a tiny fixture with the user data dir in `tmp`: a profile with
    one row per layer, stored by model hash; `--kv balanced` uses it; presets prints exact bits."""
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(tmp, "xdg"))

    def krun(*args):
        p = subprocess.run([kvmix, *args], capture_output=True, text=True, timeout=120, env=env)
        return p.returncode, p.stdout, p.stderr

    model = os.path.join(models_dir, "tiny-gemma3-q8_0.gguf")
    rc, _, err = krun("generate", "-m", model, "-p", "The", "-n", "4", "--kv", "balanced")
    check(rc == 1 and "no importance profile for this model; run `kvmix profile -m" in err,
          f"--kv balanced without a profile says what to run ({err.strip()})")
    rc, out, err = krun("presets", "-m", model)
    check(rc == 0 and "needs an importance profile" in out, f"presets without a profile ({err.strip()})")
    rc, out, err = krun("profile", "-m", model, "--self-generate", "3", "--len", "40", "--seed", "5", "--json", "--quiet")
    check(rc == 0, f"profile exits 0 ({err.strip()})")
    if rc != 0:
        return
    j = json.loads(out)
    check(len(j["scores"]) == 6 and all(s["k"] > 0 and s["v"] > 0 for s in j["scores"]), f"one positive score row per layer: {j['scores']}")
    check(j["calibration"]["sources"] == ["self-generated"] and j["calibration"]["n_sequences"] == 3
          and j["calibration"]["n_tokens"] == 120 and j["calibration"]["seed"] == 5, f"calibration recorded: {j['calibration']}")
    check(os.path.exists(j["path"]) and os.path.basename(j["path"]) == j["model"]["kv_weights_sha256"] + ".json",
          f"stored under the model hash: {j['path']}")
    check(j["presets"]["balanced"]["n_high"] == 1 and abs(j["presets"]["balanced"]["avg_k_bits"] - 19 / 6) < 1e-12,
          f"balanced on 6 layers: 1 high layer, K {j['presets']['balanced']['avg_k_bits']}")
    rc2, out2, _ = krun("profile", "-m", model, "--self-generate", "3", "--len", "40", "--seed", "5", "--json", "--quiet")
    check(rc2 == 0 and json.loads(out2)["scores"] == j["scores"], "the same seed gives the same scores")
    rc, out, err = krun("generate", "-m", model, "-p", "The", "-n", "4", "--kv", "balanced", "--temp", "0")
    check(rc == 0, f"--kv balanced uses the stored profile ({err.strip()})")
    rc, out, err = krun("presets", "-m", model, "--json")
    check(rc == 0, f"presets exits 0 ({err.strip()})")
    if rc == 0:
        rows = {r["preset"]: r for r in json.loads(out)["presets"]}
        check(set(rows) == {"fp16", "high", "balanced", "compact"}, f"presets rows: {list(rows)}")
        check(rows["fp16"]["compression_vs_fp16"] == 1 and rows["compact"]["bytes_at_ctx"] <= rows["balanced"]["bytes_at_ctx"]
              < rows["high"]["bytes_at_ctx"] < rows["fp16"]["bytes_at_ctx"], f"presets order by size: {rows}")
    other = os.path.join(tmp, "other.json")
    rc, _, _ = krun("profile", "-m", os.path.join(models_dir, "tiny-llama-q8_0.gguf"), "--self-generate", "2", "--len", "24",
                    "-o", other, "--quiet")
    check(rc == 0, "profile -o writes a file")
    rc, _, err = krun("presets", "-m", model, "--profile", other)
    check(rc == 1 and "is for another model" in err, f"a profile of another model is refused ({err.strip()})")
    rc, out, err = krun("perplexity", "-m", os.path.join(models_dir, "tiny-llama-q8_0.gguf"), "-f", other, "--ctx", "32",
                        "--kv", "profile:" + other, "--json")
    check(rc == 0, f"a profile file is also a --kv profile:FILE ({err.strip()})")


def models_dir_path():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "kvmix", "models")


def default_model_path():
    return os.environ.get("KVMIX_DEFAULT_MODEL") or os.path.join(models_dir_path(), "smollm2-135m-instruct-q4_1.gguf")


def check_default(kvmix):
    if not os.path.exists(default_model_path()):
        skip_all("the default model is not installed (run installer/setup.sh)")
    j = info(kvmix, "default")
    if j is None:
        return
    # Facts of the published SmolLM2-135M-Instruct Q4_1 file (its GGUF metadata).
    want = {"architecture": "llama", "n_layer": 30, "n_head": 9, "n_head_kv": 3, "head_dim": 64, "n_embd": 576,
            "n_ff": 1536, "n_vocab": 49152, "context_length": 8192, "sliding_window": 0, "n_sliding_layers": 0,
            "tensor_count": 272, "tied_embeddings": True}
    for k, v in want.items():
        check(j[k] == v, f"default model: {k} = {j[k]}, expected {v}")
    check(j["tensor_types"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}, f"default model: tensor types {j['tensor_types']}")
    check(j["special_tokens"]["bos"] == 1 and j["special_tokens"]["eos"] == 2, "default model: bos 1, eos 2 (<|im_end|>)")
    check(j["chat_template"]["present"] is True and j["chat_template"]["family"] == "chatml",
          f"default model: its own ChatML template ({j['chat_template']})")
    # An instruction-tuned model answers the question, and stops at <|im_end|>.
    rc, out, err = run(kvmix, "generate", "-m", "default", "--chat", "-p",
                       "What is the capital of France? Answer in one sentence.", "--temp", "0", "-n", "64")
    check(rc == 0 and "Paris" in out and "<|im_end|>" not in out and "[eos]" in err,
          f"default model: chat answer names Paris and ends at end-of-turn ({out!r} {err.strip()})")
    # No BOS for this vocabulary (tokenizer.ggml.add_bos_token = false); ids from transformers.
    rc, out, err = run(kvmix, "tokenize", "-m", "default", "--json", "Hello world")
    check(rc == 0 and json.loads(out)["ids"] == [19556, 905], f"default model: tokenize 'Hello world' ({out.strip()} {err.strip()})")

    # The second installed model, by its short name.
    gemma = os.path.join(models_dir_path(), "gemma-3-270m-q4_k_m.gguf")
    if not os.path.exists(gemma):
        check(False, f"Gemma 3 270M is not installed at {gemma} (installer/setup.sh installs it)")
        return
    j = info(kvmix, "gemma-3-270m")
    if j is None:
        return
    # Facts of the published Gemma 3 270M Q4_K_M file (its GGUF metadata).
    want = {"architecture": "gemma3", "n_layer": 18, "n_head": 4, "n_head_kv": 1, "head_dim": 256, "n_embd": 640,
            "n_ff": 2048, "n_vocab": 262144, "context_length": 32768, "sliding_window": 512, "n_sliding_layers": 15,
            "tensor_count": 236, "tied_embeddings": True}
    for k, v in want.items():
        check(j[k] == v, f"gemma-3-270m: {k} = {j[k]}, expected {v}")
    check(j["tensor_types"] == {"F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9},
          f"gemma-3-270m: tensor types {j['tensor_types']}")
    check(j["special_tokens"]["bos"] == 2 and j["special_tokens"]["eos"] == 1, "gemma-3-270m: bos 2, eos 1")
    check(j["chat_template"]["present"] is False and j["chat_template"]["family"] == "gemma",
          f"gemma-3-270m: no chat template in the file, gemma built-in ({j['chat_template']})")
    # transformers' greedy continuation on the same weights; steps 12 and 16 are near-ties,
    # so only the first 11 tokens are compared.
    rc, out, err = run(kvmix, "generate", "-m", "gemma-3-270m", "-p", "The capital of France is", "-n", "16", "--temp", "0")
    check(rc == 0 and out.startswith(" the capital of the country of France. It is the"),
          f"gemma-3-270m: greedy continuation {out!r} ({err.strip()})")
    rc, out, err = run(kvmix, "tokenize", "-m", "gemma-3-270m", "--json", "Hello world")
    check(rc == 0 and json.loads(out)["ids"][0] == 2, f"gemma-3-270m: tokenize adds <bos> ({out.strip()} {err.strip()})")


def check_kv_regression(kvmix, data):
    """The default model through the shipped KV presets on a fixed text: perplexity and KL
    divergence against fp16 may not rise more than the stated margins above the values
    recorded in tests/data/default-model/kv-regression.json (which says how they were
    measured). The presets are allocated from the importance profile checked in beside it,
    installed into a temporary XDG_DATA_HOME, so the result does not depend on a profile
    the user's machine may have."""
    import shutil
    import tempfile
    model = default_model_path()
    if not os.path.exists(model):
        skip_all("the default model is not installed (run installer/setup.sh)")
    folder = os.path.join(data, "default-model")
    with open(os.path.join(folder, "kv-regression.json")) as f:
        rec = json.load(f)
    if not os.path.exists(rec["text"]):
        check(False, f"the fixed text {rec['text']} is missing (Debian's base-files installs it)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        profiles = os.path.join(tmp, "kvmix", "profiles")
        os.makedirs(profiles)
        shutil.copy(os.path.join(folder, rec["importance_profile"]), os.path.join(profiles, rec["importance_profile_stored_as"]))
        env = dict(os.environ, XDG_DATA_HOME=tmp, KVMIX_DEFAULT_MODEL=model)
        cmd = [kvmix, "perplexity", "-m", "default", "-f", rec["text"], *rec["args"], "--kv", ",".join(rec["caches"]), "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env)
    check(p.returncode == 0, f"kvmix perplexity exits 0 ({p.stderr.strip()[-400:]})")
    if p.returncode != 0:
        return
    results = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    check(len(results) == len(rec["caches"]), f"one result per cache: {len(results)}")
    m = rec["margins"]
    for r in results:
        want = rec["caches"].get(r["kv"])
        if want is None:
            check(False, f"unexpected cache {r['kv']}")
            continue
        base_ppl = r["base"]["ppl"]
        print(f"{r['kv']}: ppl {r['ppl']:.4f} (recorded {want['ppl']:.4f}), vs fp16 {r['ppl_delta_pct']:+.2f}% "
              f"(recorded {want['ppl_delta_pct']:+.2f}%), mean KLD {r['kld']['mean']:.5f} (recorded {want['kld_mean']:.5f}), "
              f"fp16 ppl {base_ppl:.4f} (recorded {rec['fp16_ppl']:.4f})")
        check(abs(base_ppl / rec["fp16_ppl"] - 1) <= m["fp16_ppl_rel"],
              f"fp16 perplexity {base_ppl:.4f} within {100 * m['fp16_ppl_rel']:.2f}% of the recorded {rec['fp16_ppl']:.4f}")
        check(r["ppl"] <= want["ppl"] * (1 + m["ppl_rise_rel"]),
              f"{r['kv']}: perplexity {r['ppl']:.4f} rose more than {100 * m['ppl_rise_rel']:.2f}% above the recorded {want['ppl']:.4f}")
        check(r["ppl_delta_pct"] <= want["ppl_delta_pct"] + m["delta_pct_points"],
              f"{r['kv']}: {r['ppl_delta_pct']:+.2f}% vs fp16, more than {m['delta_pct_points']} points above the recorded "
              f"{want['ppl_delta_pct']:+.2f}%")
        check(r["kld"]["mean"] <= want["kld_mean"] * (1 + m["kld_rise_rel"]),
              f"{r['kv']}: mean KLD {r['kld']['mean']:.5f} rose more than {100 * m['kld_rise_rel']:.0f}% above the recorded "
              f"{want['kld_mean']:.5f}")
        check(r["rotation"] == want["rotation"], f"{r['kv']}: rotation {r['rotation']}, the preset's is {want['rotation']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmix", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--default-model", action="store_true")
    ap.add_argument("--kv-regression", action="store_true")
    args = ap.parse_args()
    global test_name
    if args.kv_regression:
        test_name = "kv-quality-regression"
        check_kv_regression(args.kvmix, args.data)
    elif args.default_model:
        test_name = "cli-default-model"
        check_default(args.kvmix)
    else:
        models_dir = os.path.join(args.data, "models")
        with open(os.path.join(models_dir, "MANIFEST.json")) as f:
            manifest = json.load(f)
        for fx in manifest["fixtures"]:
            check_fixture(args.kvmix, models_dir, fx)
        goldens_path = os.path.join(models_dir, "tokenizer-goldens.json")
        if os.path.exists(goldens_path):
            with open(goldens_path) as f:
                check_tokenize(args.kvmix, models_dir, json.load(f), manifest["fixtures"])
        check_vocab_only(args.kvmix, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "..", "shared", "data"))
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            check_errors(args.kvmix, args.data, tmp)
            check_run_commands(args.kvmix, models_dir, tmp)
            check_perplexity_kld(args.kvmix, models_dir, tmp)
            check_profile_commands(args.kvmix, models_dir, tmp)
            check_doctor(args.kvmix, models_dir)
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
