#!/usr/bin/env bash
# Builds the .deb with installer/package.sh, extracts it into a temporary root
# (dpkg-deb -x, nothing is installed) and checks its metadata, its file list and that
# the extracted binaries run: kvmix --version and kvmix info on a fixture model.
# usage: test-package.sh SOURCE_DIR PACKAGE_BUILD_DIR
set -euo pipefail
src="$1"
pkgbuild="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }

deb="$(bash "$src/installer/package.sh" "$pkgbuild" | tail -n 1)"
[ -f "$deb" ] || fail "package.sh did not produce a .deb ($deb)"
echo "package: $deb"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"

name="$(dpkg-deb -f "$deb" Package)"
version="$(dpkg-deb -f "$deb" Version)"
depends="$(dpkg-deb -f "$deb" Depends)"
[ "$name" = "kvmix-chat" ] || fail "package name '$name'"
expected_version="$(sed -n 's/^project(kvmix_chat VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
[ "$version" = "$expected_version" ] || fail "package version '$version', CMake project version '$expected_version'"
echo "depends: $depends"
for dep in libsentencepiece libstdc++6; do
    grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep"
done
if grep -qi "cuda\|cublas" <<<"$depends"; then fail "CUDA became a package dependency: $depends"; fi

files="$(cd "$root" && find . -type f -o -type l | sort)"
need=(./usr/bin/kvmix ./usr/share/man/man1/kvmix.1.gz ./usr/share/doc/kvmix-chat/README.md)
gui=0
if [ -f "$root/usr/bin/kvmix-chat" ]; then
    gui=1
    need+=(./usr/bin/kvmix-chat
           ./usr/share/applications/io.github.kvmix.KvmixChat.desktop
           ./usr/share/metainfo/io.github.kvmix.KvmixChat.metainfo.xml
           ./usr/share/icons/hicolor/scalable/apps/kvmix-chat.svg
           ./usr/share/man/man1/kvmix-chat.1.gz)
    for size in 16 24 32 48 64 128 256 512; do
        need+=(./usr/share/icons/hicolor/${size}x${size}/apps/kvmix-chat.png)
    done
    for dep in libqt6core6 libqt6sql6-sqlite qml6-module-qtquick-controls "fonts-noto-cjk | fonts-wqy-microhei"; do
        grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep"
    done
fi
for f in "${need[@]}"; do
    grep -qxF "$f" <<<"$files" || fail "missing from the package: $f"
done
if grep -q "^./usr/local\|/build/\|^./tmp" <<<"$files"; then fail "stray paths in the package"; fi

out="$("$root/usr/bin/kvmix" --version)"
[ "$out" = "kvmix $expected_version" ] || fail "kvmix --version printed '$out'"
info="$("$root/usr/bin/kvmix" info -m "$src/tests/data/models/tiny-llama-q8_0.gguf" --json)"
grep -q '"architecture": *"llama"' <<<"$info" || fail "kvmix info from the package: $info"
if [ "$gui" = 1 ]; then
    out="$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/kvmix-chat" --version)"
    grep -q "$expected_version" <<<"$out" || fail "kvmix-chat --version printed '$out'"
    if command -v desktop-file-validate >/dev/null; then
        desktop-file-validate "$root/usr/share/applications/io.github.kvmix.KvmixChat.desktop"
    fi
    if command -v appstreamcli >/dev/null; then
        appstreamcli validate --no-net "$root/usr/share/metainfo/io.github.kvmix.KvmixChat.metainfo.xml"
    fi
fi
gzip -t "$root/usr/share/man/man1/kvmix.1.gz"
echo "package ok: $(wc -l <<<"$files") files, gui=$gui"
