#!/usr/bin/env bash
# Configures the one build folder both README commands use (ccache on, Ninja, Release).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARPLAN_BUILD_BENCH=OFF "$@" >/dev/null
