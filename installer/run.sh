#!/usr/bin/env bash
# Sets KVmix Chat up if needed, then starts the app (the desktop GUI when a display is
# available). With arguments, runs `kvmix ARGS...` instead (e.g. installer/run.sh
# tokenize -m default "Hello").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVMIX_BUILD_DIR:-$here/build}"
bash "$here/installer/setup.sh" >&2
kvmix="$build/bin/kvmix"
if [ $# -gt 0 ]; then
  exec "$kvmix" "$@"
fi
# With a display: the desktop app. Without one: the terminal chat when someone is at the
# keyboard, otherwise a short non-interactive demo.
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$build/bin/kvmix-chat" ]; then
  exec "$build/bin/kvmix-chat"
fi
if [ -t 0 ]; then
  echo "[run] no display: starting the terminal chat (kvmix chat)" >&2
  exec "$kvmix" chat -m default
fi
"$kvmix" info -m default
echo
"$kvmix" generate -m default --chat -p "What is the capital of France? Answer in one sentence." -n 64 --temp 0
