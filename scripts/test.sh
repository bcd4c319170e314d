#!/usr/bin/env bash
# The test job: install what is missing, build everything the tests need, run every test
# (unit, CLI, simulation, runtime on CPU/Gloo, GUI offscreen, 100k-input fuzz of the JSON readers).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
scripts/deps.sh
# Explicit: scripts/main.sh may have configured the same build/ without the runtime and GUI.
scripts/configure.sh -DPARPLAN_WITH_TORCH=ON -DPARPLAN_WITH_GUI=ON -DPARPLAN_WITH_SIMGRID=ON
cmake --build build -j"$(nproc)"
export QT_QPA_PLATFORM=offscreen
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 1200
