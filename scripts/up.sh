#!/usr/bin/env bash
# Installs dependencies, builds, and starts a single-node Tide (SQLite store, local agent
# in-process) with the example manifests. tidectl config is written to tide-data/tidectl.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DTIDE_WERROR=OFF  # a user build: warnings stay warnings
echo "Tide starting. In another shell: export TIDE_CONFIG=$PWD/tide-data/tidectl.yaml; ./build/cli/tidectl get workloads"
exec ./build/daemon/tided --data-dir tide-data --manifests manifests
