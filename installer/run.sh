#!/usr/bin/env bash
# Sets KVmix Chat up if needed, then runs the main job. With arguments, runs
# `kvmix ARGS...` instead (e.g. installer/run.sh tokenize -m default "Hello").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVMIX_BUILD_DIR:-$here/build}"
bash "$here/installer/setup.sh" >&2
kvmix="$build/bin/kvmix"
if [ $# -gt 0 ]; then
  exec "$kvmix" "$@"
fi
"$kvmix" info -m default
echo
"$kvmix" generate -m default -p "The capital of France is" -n 32 --temp 0
