#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Tide from Debian 12 packages.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev prometheus-cpp-dev libcpp-httplib-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libssl-dev libsqlite3-dev
  libgtest-dev libgmock-dev
  python3 redis-server nginx prometheus wrk procps iproute2 curl
  etcd-server  # a real etcd (3.4, v3 JSON gateway at /v3/) for the HA store tests
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
