#!/usr/bin/env bash
# One-step start: install missing packages (apt-get, via sudo when not
# root), build signmf in ./build (release), and run `signmf demo`.
#   bash scripts/setup.sh
#   SIGNMF_BUILD_DIR=dir bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${SIGNMF_BUILD_DIR:-build}

bash scripts/install-deps.sh

if [ -d "$BUILD/meson-private" ]; then
  meson setup --reconfigure "$BUILD" --buildtype=release
else
  meson setup "$BUILD" --buildtype=release
fi
meson compile -C "$BUILD"

echo
echo "== $BUILD/src/cli/signmf demo"
"$BUILD/src/cli/signmf" demo
