#!/usr/bin/env bash
# Configures and builds Tide into ./build (or $TIDE_BUILD_DIR), warnings as errors (TIDE_WERROR,
# the development and CI setting; a plain cmake build leaves it off). Extra args go to cmake
# configure and come last, so they win, e.g. scripts/build.sh -DTIDE_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TIDE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DTIDE_WERROR=ON "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
