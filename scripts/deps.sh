#!/usr/bin/env bash
# Installs the Debian packages parplan needs, if any is missing (docs/dependencies.md).
set -euo pipefail
packages=(
  cmake g++ ninja-build ccache pkg-config
  libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libsimgrid-dev
  libtorch-dev libgloo-dev
  libopenblas0-pthread  # takes over libblas.so.3: LibTorch's CPU GEMMs ~15x the reference BLAS
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl-dev fonts-dejavu-core
  clang libclang-rt-14-dev
)
# --planning: only what `parplan` and `parplan-sim` need (scripts/main.sh); no LibTorch, Qt, clang.
if [ "${1:-}" = "--planning" ]; then
  packages=(
    cmake g++ ninja-build ccache pkg-config
    libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev
    libsimgrid-dev
  )
fi
# OpenBLAS must be what libblas.so.3 resolves to (update-alternatives), not the reference BLAS.
check_blas() {
  local arch alt target want
  arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  alt="libblas.so.3-$arch"
  want="/usr/lib/$arch/openblas-pthread/libblas.so.3"
  target=$(readlink -f "/usr/lib/$arch/libblas.so.3" 2>/dev/null || true)
  if [ -e "$want" ] && [ "$target" != "$(readlink -f "$want")" ]; then
    echo "deps: pointing $alt at $want (was $target)"
    $sudo update-alternatives --set "$alt" "$want"
  fi
  echo "deps: libblas.so.3 -> $(readlink -f "/usr/lib/$arch/libblas.so.3" 2>/dev/null || echo missing)"
}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  [ "${1:-}" = "--planning" ] || check_blas
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "${1:-}" = "--planning" ] || check_blas
