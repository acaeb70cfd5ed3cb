#!/usr/bin/env bash
# Configures and builds Tide into ./build (or $TIDE_BUILD_DIR). Extra args go to cmake configure,
# e.g. scripts/build.sh -DTIDE_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TIDE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
