#!/usr/bin/env bash
# Renders the main views of kvmix-chat to PNGs for review, under Xvfb.
#   tests/gui/screenshots.sh [BUILD_DIR] [OUT_DIR] [MODEL] [SAMPLE_TEXT]
# MODEL defaults to the installed default model when present, else the tiny fixture.
# SAMPLE_TEXT is the quality check's text (default: a generated text from the benchmarks).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$here/build}"
out="${2:-$build/screenshots}"
model="${3:-}"
sample="${4:-}"
if [ -z "$model" ]; then
  default="${KVMIX_DEFAULT_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/kvmix/models/smollm2-135m-instruct-q4_1.gguf}"
  if [ -f "$default" ]; then model="$default"; else model="$here/tests/data/models/tiny-llama-q8_0.gguf"; fi
fi
tool="$build/bin/gui-screenshots"
[ -x "$tool" ] || { echo "missing $tool (cmake --build $build --target gui-screenshots)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 1; }
mkdir -p "$out"
# Settings and stored profiles go to throw-away folders so the user's are not touched.
export XDG_CONFIG_HOME="$out/config"
export XDG_DATA_HOME="$out/data"
xvfb-run -a -s "-screen 0 1400x900x24" "$tool" "$out" "$model" ${sample:+"$sample"}
ls -1 "$out"/*.png
