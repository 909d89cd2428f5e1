#!/usr/bin/env bash
# Builds the GGUF, safetensors and byte-level BPE fuzzers with clang (ASan + UBSan +
# libFuzzer) in <build-dir>/fuzz-build, reusing that build when present, then runs each
# for a bounded time.
# Fails on any crash, leak, UB report, timeout or out-of-memory; exits 77 (skip) when the
# toolchain cannot link libFuzzer.
#
#   tests/fuzz/run-fuzzers.sh <source-dir> <build-dir>
#   env: KVMIX_FUZZ_SECONDS (per fuzzer, default 30), KVMIX_FUZZ_CXX (default clang++)
set -euo pipefail

src=$(cd "${1:?usage: run-fuzzers.sh <source-dir> <build-dir>}" && pwd)
build=${2:?usage: run-fuzzers.sh <source-dir> <build-dir>}
mkdir -p "$build"
build=$(cd "$build" && pwd)
seconds=${KVMIX_FUZZ_SECONDS:-30}
cxx=${KVMIX_FUZZ_CXX:-clang++}
fb=$build/fuzz-build
max_len=1048576

# A toolchain without compiler-rt's libFuzzer cannot run this test: skip, do not fail.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  > "$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" > "$probe/log" 2>&1; then
  echo "SKIP: $cxx cannot link -fsanitize=fuzzer,address,undefined:" >&2
  cat "$probe/log" >&2
  exit 77
fi

if [ ! -f "$fb/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja > /dev/null; then generator=(-G Ninja); fi
  cmake -S "$src/tests/fuzz/harness" -B "$fb" "${generator[@]}" \
    -DKVMIX_SOURCE_DIR="$src" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$fb" --parallel "$(nproc 2> /dev/null || echo 2)"

# Seeds: the checked-in valid seeds, the corrupt corpus and any small fixture model files.
# libFuzzer writes new inputs into the first corpus folder, kept in the build for next time.
status=0
# fuzz-bpe-vocab reads GGUF vocabularies and tokenizer.json files: it takes the GGUF seeds
# plus the fixtures' tokenizer.json files.
for kind in gguf safetensors bpe-vocab; do
  ext=$kind
  [ "$kind" = bpe-vocab ] && ext=gguf
  seeds=$src/tests/fuzz/seeds/$ext
  work=$fb/corpus/$kind
  extra=$fb/seeds/$kind
  mkdir -p "$work" "$extra" "$fb/artifacts" "$fb/logs"
  rm -f "$extra"/*
  n=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    ln -sf "$f" "$extra/$n-$(basename "$f")"
  done < <(find "$src/tests/data/corrupt" "$src/tests/data/models" -type f -name "*.$ext" -size -1024k -print0 2> /dev/null)
  [ "$kind" = safetensors ] && find "$src/tests/fuzz/seeds/$kind" -name '*.json' -exec cp {} "$extra/" \;
  if [ "$kind" = bpe-vocab ]; then
    while IFS= read -r -d '' f; do
      n=$((n + 1))
      ln -sf "$f" "$extra/$n-$(basename "$f")"
    done < <(find "$src/tests/data/models" -type f -name tokenizer.json -size -1024k -print0 2> /dev/null)
  fi

  log=$fb/logs/fuzz-$kind.log
  echo "== fuzz-$kind: ${seconds}s, seeds from tests/fuzz/seeds/$ext and $n corpus/fixture files"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$fb/fuzz-$kind" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=$max_len -timeout=25 \
      -print_final_stats=1 -artifact_prefix="$fb/artifacts/$kind-" \
      "$work" "$seeds" "$extra" > "$log" 2>&1
  rc=$?
  set -e
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done [0-9]+ runs' "$log" || true
  if [ $rc -ne 0 ] || grep -qE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
    echo "FAILED: fuzz-$kind (exit $rc); log $log, reproducer in $fb/artifacts/" >&2
    tail -n 60 "$log" >&2
    status=1
  else
    echo "ok: fuzz-$kind, corpus now $(find "$work" -type f | wc -l) inputs"
  fi
done
exit $status
