#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every CTest test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh "$@"
cd "${TIDE_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 300 -j 2
