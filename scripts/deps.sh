#!/usr/bin/env bash
# Installs the Debian packages parplan needs, if any is missing (docs/dependencies.md).
set -euo pipefail
packages=(
  cmake g++ ninja-build ccache pkg-config
  libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libsimgrid-dev
  libtorch-dev libgloo-dev
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl-dev fonts-dejavu-core
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
