#!/usr/bin/env bash
# Sets KVmix Chat up if needed, then runs every test label except `cuda` and `bench`.
# Extra arguments go to ctest (e.g. installer/test.sh -L unit).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVMIX_BUILD_DIR:-$here/build}"
bash "$here/installer/setup.sh"
cd "$build"
ctest -LE '^(cuda|bench)$' --output-on-failure -j "$(nproc)" "$@"
