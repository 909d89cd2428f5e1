#!/usr/bin/env bash
# Builds the Debian package kvmix-chat_<version>_<arch>.deb (CPU-only: the CUDA backend
# is left out so the package depends only on Debian packages).
# usage: installer/package.sh [BUILD_DIR]   (default: build/package)
# Prints the path of the .deb on its last line. Needs the packages installer/setup.sh
# installs (run it first on a fresh machine).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build/package}"
command -v dpkg-shlibdeps >/dev/null || { echo "package.sh: dpkg-shlibdeps not found (apt-get install dpkg-dev)" >&2; exit 1; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DKVMIX_CUDA=OFF -DKVMIX_TESTS=OFF -DKVMIX_FUZZ=OFF -DKVMIX_NATIVE=OFF >&2
fi
cmake --build "$build" -j "$(nproc)" >&2
rm -f "$build"/kvmix-chat_*.deb
(cd "$build" && cpack -G DEB >&2)
ls "$build"/kvmix-chat_*.deb
