#!/usr/bin/env bash
# Renders kvmix-chat.svg to the hicolor PNG sizes checked in next to it (needs rsvg-convert
# from Debian's librsvg2-bin). Run after editing the SVG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for size in 16 24 32 48 64 128 256 512; do
    rsvg-convert -w "$size" -h "$size" kvmix-chat.svg -o "kvmix-chat-$size.png"
done
