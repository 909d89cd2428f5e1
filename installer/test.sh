#!/usr/bin/env bash
# Sets KVmix Chat up if needed, then runs every test label except `cuda`, `bench` and
# `fuzz-long` (minutes per fuzzer; run it with ctest -L fuzz-long).
# Extra arguments go to ctest (e.g. installer/test.sh -L unit).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVMIX_BUILD_DIR:-$here/build}"
bash "$here/installer/setup.sh"
cd "$build"
ctest -LE '^(cuda|bench|fuzz-long)$' --output-on-failure -j "$(nproc)" "$@"
