#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) in <build-dir>/fuzz-build,
# reusing that build when present, then runs each named harness for a bounded time.
# Fails on any crash, leak, UB report, timeout or out-of-memory. When the toolchain cannot
# link libFuzzer it skips (exit 77) — under CI only if tests/expected-skips.txt lists it.
#
#   tests/fuzz/run-fuzzers.sh [--long] <source-dir> <build-dir> <harness>...
#   harness: gguf safetensors bpe-vocab spm-vocab jinja profile session conversation-import
#   env: KVMIX_FUZZ_SECONDS (per harness, default 20), with --long KVMIX_FUZZ_LONG_SECONDS
#        (default 300); KVMIX_FUZZ_CXX (default clang++); KVMIX_FUZZ_QT=ON to build the
#        conversation-import harness (Qt); KVMIX_TEST_NAME (the CTest name, for the skip
#        policy); KVMIX_FUZZ_REPORT (a file that gets one line of results per harness).
set -euo pipefail

long=0
if [ "${1:-}" = --long ]; then
  long=1
  shift
fi
usage="usage: run-fuzzers.sh [--long] <source-dir> <build-dir> <harness>..."
src=$(cd "${1:?$usage}" && pwd)
build=${2:?$usage}
shift 2
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
mkdir -p "$build"
build=$(cd "$build" && pwd)
if [ $long = 1 ]; then seconds=${KVMIX_FUZZ_LONG_SECONDS:-300}; else seconds=${KVMIX_FUZZ_SECONDS:-20}; fi
cxx=${KVMIX_FUZZ_CXX:-clang++}
qt=${KVMIX_FUZZ_QT:-OFF}
fb=$build/fuzz-build

# The skip policy of tests/support/skip-policy.h: under CI a skip fails unless
# tests/expected-skips.txt has a '<test> | <part of the message> | <reason>' line for it.
skip() {
  local message=$1 test=${KVMIX_TEST_NAME:-fuzz-parsers}
  local list=${KVMIX_EXPECTED_SKIPS:-$src/tests/expected-skips.txt}
  case "${CI:-}" in
    "" | 0 | false) echo "SKIP: $message" >&2; exit 77 ;;
  esac
  if [ -r "$list" ] && awk -F'|' -v t="$test" -v m="$message" '
      function trim(s) { gsub(/^[ \t]+|[ \t\r]+$/, "", s); return s }
      /^[ \t]*(#|$)/ { next }
      NF == 3 && trim($1) == t && trim($2) != "" && index(m, trim($2)) { found = 1 }
      END { exit !found }' "$list"; then
    echo "SKIP (expected in CI, see $list): $message" >&2
    exit 77
  fi
  echo "FAILED: skipped under CI=$CI but $list lists no '$test | <part of the message> | <reason>' line: $message" >&2
  exit 1
}

# A toolchain without compiler-rt's libFuzzer cannot run this test.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  > "$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" > "$probe/log" 2>&1; then
  cat "$probe/log" >&2
  skip "$cxx cannot link -fsanitize=fuzzer,address,undefined (install clang and libclang-rt-14-dev)"
fi

generator=()
if [ ! -f "$fb/CMakeCache.txt" ] && command -v ninja > /dev/null; then generator=(-G Ninja); fi
if ! cmake -S "$src/tests/fuzz/harness" -B "$fb" "${generator[@]}" -DKVMIX_SOURCE_DIR="$src" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMIX_FUZZ_QT="$qt" > "$probe/configure.log" 2>&1; then
  cat "$probe/configure.log" >&2
  exit 1
fi
targets=()
for name in "$@"; do targets+=("fuzz-$name"); done
cmake --build "$fb" --parallel "$(nproc 2> /dev/null || echo 2)" --target "${targets[@]}"

# Links every fixture file matching `find` arguments into the extra seed folder.
n=0
add_seeds() {
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    ln -sf "$f" "$extra/$n-$(basename "$f")"
  done < <(find "$@" -type f -size -1024k -print0 2> /dev/null)
}

# Seeds: tests/fuzz/seeds/<harness> (checked in) plus fixtures and, for the snapshot and
# export harnesses, files the harness writes from the current code. libFuzzer writes new
# inputs into the first corpus folder, kept in the build for the next run.
status=0
data=$src/tests/data
for name in "$@"; do
  seeds=$src/tests/fuzz/seeds/$name
  work=$fb/corpus/$name
  extra=$fb/seeds/$name
  mkdir -p "$work" "$extra" "$fb/artifacts" "$fb/logs"
  rm -f "$extra"/*
  n=0
  max_len=1048576
  case $name in
    gguf) add_seeds "$data/corrupt" "$data/models" -name '*.gguf' ;;
    safetensors)
      add_seeds "$data/corrupt" "$data/models" -name '*.safetensors'
      add_seeds "$data/models" -name '*.index.json' ;;
    bpe-vocab) add_seeds "$src/tests/fuzz/seeds/gguf" "$data/models" \( -name '*.gguf' -o -name tokenizer.json \) ;;
    spm-vocab) add_seeds "$data/models" \( -name '*.gguf' -o -name '*.model' \) ;;
    jinja) max_len=65536; add_seeds "$data/chat-templates" -name '*.jinja' ;;
    profile) max_len=65536; add_seeds "$src/tests/bench/profiles" -name '*.json' ;;
    session | conversation-import)
      max_len=262144
      KVMIX_FUZZ_WRITE_SEEDS=$extra ASAN_OPTIONS=detect_leaks=0 "$fb/fuzz-$name" > "$fb/logs/seeds-$name.log" 2>&1 || {
        echo "FAILED: fuzz-$name could not write its seeds:" >&2
        cat "$fb/logs/seeds-$name.log" >&2
        status=1
        continue
      }
      n=$(find "$extra" -type f | wc -l) ;;
  esac

  corpora=("$work" "$extra")
  [ -d "$seeds" ] && corpora+=("$seeds")
  log=$fb/logs/fuzz-$name.log
  seeded="$n fixture files"
  [ -d "$seeds" ] && seeded="tests/fuzz/seeds/$name and $seeded"
  echo "== fuzz-$name: ${seconds}s, seeds from $seeded"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$fb/fuzz-$name" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=$max_len -timeout=25 \
      -print_final_stats=1 -artifact_prefix="$fb/artifacts/$name-" \
      "${corpora[@]}" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  corpus=$(find "$work" -type f | wc -l)
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done [0-9]+ runs' "$log" || true
  if [ $rc -ne 0 ] || grep -qE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
    echo "FAILED: fuzz-$name (exit $rc); log $log, reproducer in $fb/artifacts/" >&2
    tail -n 60 "$log" >&2
    status=1
    verdict=FAILED
  else
    echo "ok: fuzz-$name, corpus now $corpus inputs"
    verdict=ok
  fi
  if [ -n "${KVMIX_FUZZ_REPORT:-}" ]; then
    echo "fuzz-$name ${seconds}s execs=${execs:-?} corpus=$corpus $verdict" >> "$KVMIX_FUZZ_REPORT"
  fi
done
exit $status
