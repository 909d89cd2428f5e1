#!/usr/bin/env bash
# GPU check: builds KVmix with CUDA for one GPU architecture, runs the `cuda` tests and
# test-device-select, then the GPU benchmarks, writing logs and JSON into an output folder. Meant for a Linux machine with
# one NVIDIA GPU (H200: sm_90), nvcc, CMake and Python — no Qt, sentencepiece or SQLite
# development files and no package registry are needed. Ninja is used when present, else make.
#
#   installer/gpu-check.sh [OUT_DIR]        (default: $OUT)
#   KVMIX_CUDA_ARCH=90  KVMIX_GPU_BUDGET_GIB=64  KVMIX_MODEL=path/to/default.gguf
#   KVMIX_GPU_CHECK_SECONDS=465   the whole run's time limit (every step gets a share of it)
#   KVMIX_CMAKE=/path/to/cmake    a CMake other than the one on PATH
#
# The engine needs nlohmann-json (header only). Where the machine lacks it, carry Debian's
# package extracted into the repository's ignored .deps/ folder (never into /):
#   cd REPO && apt-get download nlohmann-json3-dev && dpkg -x nlohmann-json3-dev_*.deb .deps/ && rm nlohmann-json3-dev_*.deb
# CMakeLists.txt needs CMake >= 3.25. Where the machine's is older, carry a CMake release
# (cmake.org's Linux x86_64 .tar.gz) extracted as .deps/cmake/ (so .deps/cmake/bin/cmake exists).
# nvcc is taken from PATH, else /usr/local/cuda/bin.
# The default model is benchmarked only when its file is present (KVMIX_MODEL, the usual
# ~/.local/share/kvmix/models/smollm2-135m-instruct-q4_1.gguf or .deps/models/); otherwise skipped.
#
# Where nvidia-smi lists a GPU the tests run with KVMIX_REQUIRE_GPU=1: a test that cannot use
# the GPU fails instead of skipping, and any skipped test fails the check.
#
# Outputs in OUT_DIR: gpu-check.log (everything), configure.log, build.log, ctest-cuda.log,
# doctor-*.log (the CPU-vs-GPU self-check per model), bench-*.log, gpu-bench-*.json, and summary.json (every step's status and time; written on
# every exit, also when a step fails or the time runs out).
# Exit status: 0 everything verified; 1 a step failed or ran out of time; 2 usage;
# 3 no GPU: nothing verified (only the tools and the CMake configure step were checked).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${OUT:-}}"
if [[ -z "$OUT_DIR" ]]; then
    echo "usage: installer/gpu-check.sh OUT_DIR   (or set OUT)" >&2
    exit 2
fi
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
LOG="$OUT_DIR/gpu-check.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1

ARCH="${KVMIX_CUDA_ARCH:-90}"
BUDGET_GIB="${KVMIX_GPU_BUDGET_GIB:-64}"
T0=$(date +%s)
DEADLINE=$(( T0 + ${KVMIX_GPU_CHECK_SECONDS:-465} ))
WORK=""
CURRENT="start"
STEPS=()           # one JSON object per finished step
FINAL_STATUS=""    # ok | failed | no_gpu, set right before exiting
FINAL_MESSAGE=""

elapsed() { echo $(( $(date +%s) - T0 )); }
json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/ }
    s=${s//$'\t'/ }
    printf '"%s"' "$s"
}
record() {  # name, status (ok|failed|timeout|not_run|skipped), seconds, detail
    STEPS+=("{\"name\": $(json_str "$1"), \"status\": \"$2\", \"seconds\": $3, \"detail\": $(json_str "$4")}")
}
# shellcheck disable=SC2317  # runs from the EXIT trap
write_summary() {  # exit code
    local status="$FINAL_STATUS" message="$FINAL_MESSAGE" steps="" s
    if [[ -z "$status" ]]; then
        status="failed"
        message="gpu-check stopped unexpectedly during step '$CURRENT' (exit $1)"
    fi
    for s in "${STEPS[@]}"; do steps+="${steps:+,$'\n'}    $s"; done
    printf '{\n  "status": "%s",\n  "message": %s,\n  "exit_code": %d,\n  "seconds": %d,\n  "arch": "%s",\n  "steps": [\n%s\n  ]\n}\n' \
        "$status" "$(json_str "$message")" "$1" "$(elapsed)" "$ARCH" "$steps" > "$OUT_DIR/summary.json"
}
# shellcheck disable=SC2317  # runs from the EXIT trap
on_exit() {
    local rc=$?
    write_summary "$rc"
    [[ -n "$WORK" ]] && rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

step() { CURRENT="$1"; echo; echo "== [$(elapsed)s] $1"; }
finish() {  # exit code, status, message
    FINAL_STATUS="$2"
    FINAL_MESSAGE="$3"
    echo
    echo "gpu-check: $3"
    exit "$1"
}
fail() { finish 1 failed "FAILED: $*"; }
# Seconds a step may take: its cap, or what is left of the whole run if that is less.
budget() {
    local left=$(( DEADLINE - $(date +%s) ))
    (( left < $1 )) && echo "$left" || echo "$1"
}

# ---------------------------------------------------------------------------------------
step "tools"
t=$(date +%s)
NVCC="$(command -v nvcc || true)"
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then
    NVCC=/usr/local/cuda/bin/nvcc
    export PATH="/usr/local/cuda/bin:$PATH"
    echo "nvcc not on PATH: using $NVCC"
fi
[[ -n "$NVCC" ]] || fail "nvcc not found (neither on PATH nor in /usr/local/cuda/bin)"
"$NVCC" --version | tail -2

version_ok() {  # cmake binary: true if >= 3.25
    local major minor
    read -r major minor < <("$1" --version 2>/dev/null | head -1 | sed -n 's/^cmake version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    [[ -n "${minor:-}" ]] || return 1
    (( major > 3 || (major == 3 && minor >= 25) ))
}
CMAKE="${KVMIX_CMAKE:-$(command -v cmake || true)}"
if [[ -z "$CMAKE" ]] || ! version_ok "$CMAKE"; then
    if [[ -x "$REPO/.deps/cmake/bin/cmake" ]] && version_ok "$REPO/.deps/cmake/bin/cmake"; then
        echo "cmake on PATH is missing or older than 3.25: using the carried .deps/cmake"
        CMAKE="$REPO/.deps/cmake/bin/cmake"
    elif [[ -z "$CMAKE" ]]; then
        fail "cmake not found; carry a CMake >= 3.25 release as .deps/cmake/ (see the header of this script)"
    else
        fail "$("$CMAKE" --version | head -1) is older than 3.25, which CMakeLists.txt needs; carry a newer release as .deps/cmake/ (see the header of this script)"
    fi
fi
CTEST="$(dirname "$CMAKE")/ctest"
[[ -x "$CTEST" ]] || CTEST="$(command -v ctest || true)"
[[ -n "$CTEST" ]] || fail "ctest not found next to $CMAKE"
"$CMAKE" --version | head -1
if command -v ninja >/dev/null 2>&1; then
    GENERATOR="Ninja"
    BUILD="$REPO/build-gpu-check"
elif command -v make >/dev/null 2>&1; then
    GENERATOR="Unix Makefiles"
    BUILD="$REPO/build-gpu-check-make"  # a build folder is tied to its generator
    echo "ninja not found: using make"
else
    fail "neither ninja nor make found"
fi
JOBS="$(nproc 2>/dev/null || echo 4)"
command -v timeout >/dev/null 2>&1 || fail "timeout (coreutils) not found"
record tools ok $(( $(date +%s) - t )) "$NVCC; $CMAKE; $GENERATOR"

# nlohmann-json: the system's, else the carried .deps/ copy.
PREFIX_ARGS=()
if [[ -d "$REPO/.deps/usr" ]]; then
    PREFIX_ARGS=("-DCMAKE_PREFIX_PATH=$REPO/.deps/usr")
    echo "using carried packages in .deps/usr"
fi

# run_step NAME CAP_SECONDS LOGFILE COMMAND...: runs the command under its time budget with
# its output in LOGFILE (and on screen); sets STEP_RC (124: ran out of time) and records it.
run_step() {
    local name=$1 cap=$2 log=$3 b t rc
    shift 3
    b=$(budget "$cap")
    if (( b < 5 )); then
        echo "$name: not run, the ${KVMIX_GPU_CHECK_SECONDS:-465} s budget is spent"
        record "$name" not_run 0 "no time left"
        STEP_RC=124
        return
    fi
    t=$(date +%s)
    timeout -k 10 "$b" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    (( rc == 137 )) && rc=124
    STEP_RC=$rc
    if (( rc == 0 )); then
        record "$name" ok $(( $(date +%s) - t )) "$(basename "$log")"
    elif (( rc == 124 )); then
        echo "$name: ran out of its $b s budget (see $(basename "$log"))"
        record "$name" timeout $(( $(date +%s) - t )) "over its $b s budget"
    else
        record "$name" failed $(( $(date +%s) - t )) "exit $rc, see $(basename "$log")"
    fi
}

# ---------------------------------------------------------------------------------------
step "configure (CUDA sm_$ARCH, no GUI, no tokenizer, warnings not errors)"
# CMake answers a changed compiler by dropping the whole cache, -D options included: start
# a folder configured with another nvcc afresh instead.
if [[ -f "$BUILD/CMakeCache.txt" ]] && ! grep -qx "CMAKE_CUDA_COMPILER:[A-Z]*=$NVCC" "$BUILD/CMakeCache.txt"; then
    echo "$BUILD was configured with another nvcc: configuring it afresh"
    rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
run_step configure 120 "$OUT_DIR/configure.log" \
    "$CMAKE" -S "$REPO" -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release -DKVMIX_GUI=OFF -DKVMIX_TOKENIZER=OFF \
    -DKVMIX_FUZZ=OFF -DKVMIX_CUDA=ON -DKVMIX_WERROR=OFF -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    "${PREFIX_ARGS[@]}" > /dev/null
if (( STEP_RC != 0 )); then
    tail -20 "$OUT_DIR/configure.log"
    grep -q nlohmann "$OUT_DIR/configure.log" && fail "configure: nlohmann-json not found; carry it in .deps/ (see the header of this script)"
    fail "configure failed (see configure.log)"
fi
grep "KVmix:" "$OUT_DIR/configure.log"

# ---------------------------------------------------------------------------------------
step "GPU"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    record gpu skipped 0 "nvidia-smi not found"
    finish 3 no_gpu "no GPU: nothing verified (nvidia-smi not found; only the tools and the CUDA configure step were checked)"
fi
if ! SMI="$(nvidia-smi -L 2>&1)"; then
    echo "$SMI"
    record gpu failed 0 "nvidia-smi fails: $SMI"
    fail "nvidia-smi is installed but fails (driver not loaded?): $SMI"
fi
if ! grep -q "^GPU" <<< "$SMI"; then
    record gpu skipped 0 "nvidia-smi lists no GPU"
    finish 3 no_gpu "no GPU: nothing verified (nvidia-smi lists none; only the tools and the CUDA configure step were checked)"
fi
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv | tee "$OUT_DIR/nvidia-smi.csv"
record gpu ok 0 "$(head -1 <<< "$SMI")"
# From here on a GPU is there: every test must use it.
export KVMIX_REQUIRE_GPU=1

# ---------------------------------------------------------------------------------------
step "build (-j$JOBS)"
run_step build 260 "$OUT_DIR/build.log" \
    "$CMAKE" --build "$BUILD" -j "$JOBS" --target test-cuda-kernels test-cuda-forward test-device-select gpu-bench kvmix > /dev/null
if (( STEP_RC != 0 )); then
    grep -E "error|FAILED" "$OUT_DIR/build.log" | head -30
    (( STEP_RC == 124 )) && fail "build ran out of time (see build.log)"
    fail "build failed (see build.log)"
fi

# ---------------------------------------------------------------------------------------
step "tests: ctest -L cuda and test-device-select (KVMIX_REQUIRE_GPU=1)"
# test-device-select carries only the `unit` label (the CPU suite runs it too); it checks
# here that the engine sees the GPU.
mapfile -t TESTS < <("$CTEST" --test-dir "$BUILD" -L cuda -N | sed -n 's/^ *Test *#[0-9]*: *//p')
TESTS=(test-device-select "${TESTS[@]}")
echo "tests: ${TESTS[*]}"
CTEST_LOG="$OUT_DIR/ctest-cuda.log"
run_step ctest 200 "$CTEST_LOG" "$CTEST" --test-dir "$BUILD" -R "^($(IFS='|'; echo "${TESTS[*]}"))\$" --verbose --no-tests=error > /dev/null
CTEST_RC=$STEP_RC
grep -E "Test +#[0-9]+:|tests passed|\[ SKIP \]|\[FAILED\]" "$CTEST_LOG" | grep -v "Start " | tail -20
SKIPPED="$(grep -E "\*\*\*Skipped|Not Run" "$CTEST_LOG" | sed 's/^ *//' | tr '\n' ';' || true)"
MISSING=""
for t in "${TESTS[@]}"; do
    grep -qE "Test +#[0-9]+: $t \.+ +Passed" "$CTEST_LOG" || MISSING+="$t "
done
(( ${#TESTS[@]} >= 3 )) || MISSING+="(the cuda tests are not in this build) "

MODEL="${KVMIX_MODEL:-}"
for m in "$HOME/.local/share/kvmix/models/smollm2-135m-instruct-q4_1.gguf" "$REPO/.deps/models/smollm2-135m-instruct-q4_1.gguf"; do
    [[ -z "$MODEL" && -f "$m" ]] && MODEL="$m"
done
[[ -n "$MODEL" ]] && echo "default model: $MODEL" || echo "default model: not present, its benchmark is skipped"

# ---------------------------------------------------------------------------------------
# The app's load-time self-check (CPU vs GPU logits), as `kvmix doctor` runs it.
step "self-check: kvmix doctor"
DOCTOR_RC=0
for m in "$REPO/tests/data/models/tiny-llama-q8_0.gguf" "$REPO/tests/data/models/tiny-gemma3-q8_0.gguf" ${MODEL:+"$MODEL"}; do
    name="$(basename "$m" .gguf)"
    run_step "doctor-$name" 60 "$OUT_DIR/doctor-$name.log" "$BUILD/bin/kvmix" doctor -m "$m" --json
    (( STEP_RC == 0 )) || DOCTOR_RC=1
    grep -E '"summary"' "$OUT_DIR/doctor-$name.log" || true
done

# ---------------------------------------------------------------------------------------
# Benchmarks. One synthetic 7B-shaped model (7.2 GB) is written once and shared by the
# decode and maxbatch runs.
WORK="$(mktemp -d -t kvmix-gpu-check.XXXXXX)"
SYNTH="$WORK/synthetic-llama2-7b-q8_0.gguf"
BENCH="$BUILD/bin/gpu-bench"
BENCH_FAILED=""
run_bench() {  # name, cap seconds, --only list
    step "benchmark: $1"
    run_step "bench-$1" "$2" "$OUT_DIR/bench-$1.log" "$BENCH" --out "$OUT_DIR/gpu-bench-$1.json" --work "$WORK" --only "$3" \
        --synthetic "$SYNTH" --budget-gib "$BUDGET_GIB" ${MODEL:+--model "$MODEL"}
    (( STEP_RC != 0 )) && BENCH_FAILED+="$1 (exit $STEP_RC) "
}
run_bench attention 60 copy,attn
run_bench synthetic 100 synthetic
run_bench decode 120 decode
run_bench maxbatch 60 maxbatch

# ---------------------------------------------------------------------------------------
step "done"
if (( CTEST_RC == 124 )); then
    fail "the cuda tests ran out of their time budget (see ctest-cuda.log)"
elif (( CTEST_RC != 0 )); then
    fail "the cuda tests failed (see ctest-cuda.log)"
fi
[[ -n "$SKIPPED" ]] && fail "cuda tests skipped on a machine with a GPU: $SKIPPED"
[[ -n "$MISSING" ]] && fail "cuda tests that did not pass: $MISSING(see ctest-cuda.log)"
(( DOCTOR_RC == 0 )) || fail "the GPU self-check (kvmix doctor) failed: the GPU's logits differ from the CPU's (see doctor-*.log)"
[[ -n "$BENCH_FAILED" ]] && fail "benchmarks failed or ran out of time: $BENCH_FAILED(partial JSON kept)"
finish 0 ok "OK ($(elapsed) s): cuda tests passed, benchmarks written to $OUT_DIR"
