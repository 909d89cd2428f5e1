#!/usr/bin/env bash
# GPU check: builds KVmix with CUDA for one GPU architecture, runs the `cuda` tests, then the
# GPU benchmarks, writing logs and JSON into an output folder. Meant for a Linux machine with
# one NVIDIA GPU (H200: sm_90), nvcc, CMake, ninja and Python — no Qt, sentencepiece or
# SQLite development files and no package registry are needed. Whole run: under 8 minutes.
#
#   installer/gpu-check.sh [OUT_DIR]        (default: $OUT)
#   KVMIX_CUDA_ARCH=90  KVMIX_GPU_BUDGET_GIB=64  KVMIX_MODEL=path/to/default.gguf
#
# The engine needs nlohmann-json (header only). Where the machine lacks it, carry Debian's
# package extracted into the repository's ignored .deps/ folder (never into /):
#   cd REPO && apt-get download nlohmann-json3-dev && dpkg -x nlohmann-json3-dev_*.deb .deps/ && rm nlohmann-json3-dev_*.deb
# The default model is benchmarked only when its file is present (KVMIX_MODEL, the usual
# ~/.local/share/kvmix/models/smollm2-135m-instruct-q4_1.gguf or .deps/models/); otherwise skipped.
#
# Outputs in OUT_DIR: gpu-check.log (everything), configure.log, build.log, ctest-cuda.log,
# bench-*.log, gpu-bench-*.json, summary.json. Exit status: 0 all good, 1 a step failed,
# 3 no CUDA device (after configuring, so a GPU-less rehearsal still checks the build setup).
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
BUILD="$REPO/build-gpu-check"
BUDGET_GIB="${KVMIX_GPU_BUDGET_GIB:-64}"
T0=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - T0 ))s] $*"; }
summary() {  # summary.json with the status of every step so far
    printf '{"status": "%s", "message": "%s", "seconds": %d, "arch": "%s"}\n' "$1" "$2" "$(( $(date +%s) - T0 ))" "$ARCH" \
        > "$OUT_DIR/summary.json"
}
fail() {
    echo "gpu-check: FAILED: $*"
    summary failed "$*"
    exit 1
}

step "tools"
for tool in cmake ninja nvcc; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found on PATH"
done
cmake --version | head -1
nvcc --version | tail -2
JOBS="$(nproc 2>/dev/null || echo 4)"

# nlohmann-json: the system's, else the carried .deps/ copy.
PREFIX_ARGS=()
if [[ -d "$REPO/.deps/usr" ]]; then
    PREFIX_ARGS=("-DCMAKE_PREFIX_PATH=$REPO/.deps/usr")
    echo "using carried packages in .deps/usr"
fi

step "configure (CUDA sm_$ARCH, no GUI, no tokenizer)"
cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVMIX_GUI=OFF -DKVMIX_TOKENIZER=OFF \
    -DKVMIX_FUZZ=OFF -DKVMIX_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${PREFIX_ARGS[@]}" \
    > "$OUT_DIR/configure.log" 2>&1
if [[ $? -ne 0 ]]; then
    tail -20 "$OUT_DIR/configure.log"
    if grep -q nlohmann "$OUT_DIR/configure.log"; then
        fail "configure: nlohmann-json not found; carry it in .deps/ (see the header of this script)"
    fi
    fail "configure failed (see configure.log)"
fi
grep "KVmix:" "$OUT_DIR/configure.log"

step "GPU"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: no CUDA device (nvidia-smi not found)"
    summary no_device "no CUDA device (nvidia-smi not found)"
    exit 3
fi
if ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
    echo "gpu-check: no CUDA device (nvidia-smi lists none)"
    summary no_device "no CUDA device (nvidia-smi lists none)"
    exit 3
fi
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv | tee "$OUT_DIR/nvidia-smi.csv"

step "build (-j$JOBS)"
if ! cmake --build "$BUILD" -j "$JOBS" --target test-cuda-kernels test-cuda-forward test-device-select gpu-bench kvmix \
    > "$OUT_DIR/build.log" 2>&1; then
    grep -E "error|FAILED" "$OUT_DIR/build.log" | head -30
    fail "build failed (see build.log)"
fi

step "ctest -L cuda"
( cd "$BUILD" && ctest -L cuda --output-on-failure --timeout 240 ) > "$OUT_DIR/ctest-cuda.log" 2>&1
CTEST_RC=$?
tail -15 "$OUT_DIR/ctest-cuda.log"
if grep -q "Skipped\|Not Run" "$OUT_DIR/ctest-cuda.log"; then
    echo "warning: some cuda tests were skipped on a machine with a GPU (see ctest-cuda.log)"
fi

MODEL="${KVMIX_MODEL:-}"
for m in "$HOME/.local/share/kvmix/models/smollm2-135m-instruct-q4_1.gguf" "$REPO/.deps/models/smollm2-135m-instruct-q4_1.gguf"; do
    [[ -z "$MODEL" && -f "$m" ]] && MODEL="$m"
done
[[ -n "$MODEL" ]] && echo "default model: $MODEL" || echo "default model: not present, its benchmark is skipped"
WORK="$(mktemp -d -t kvmix-gpu-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
BENCH="$BUILD/bin/gpu-bench"
BENCH_RC=0
run_bench() {  # name, timeout seconds, --only list
    step "benchmark: $1"
    timeout "$2" "$BENCH" --out "$OUT_DIR/gpu-bench-$1.json" --work "$WORK" --only "$3" --budget-gib "$BUDGET_GIB" \
        ${MODEL:+--model "$MODEL"} 2>&1 | tee "$OUT_DIR/bench-$1.log"
    local rc=${PIPESTATUS[0]}
    [[ $rc -eq 124 ]] && echo "benchmark $1: timed out after $2 s (partial JSON kept)"
    [[ $rc -ne 0 ]] && BENCH_RC=$rc
}
run_bench attention 90 copy,attn
run_bench decode 200 decode
run_bench maxbatch 60 maxbatch

step "done"
if [[ $CTEST_RC -ne 0 ]]; then
    summary failed "ctest -L cuda failed (see ctest-cuda.log)"
    echo "gpu-check: ctest -L cuda FAILED"
    exit 1
fi
if [[ $BENCH_RC -ne 0 ]]; then
    summary failed "a benchmark failed or timed out (rc $BENCH_RC)"
    exit 1
fi
summary ok "cuda tests passed, benchmarks written"
echo "gpu-check: OK ($(( $(date +%s) - T0 )) s); results in $OUT_DIR"
