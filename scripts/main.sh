#!/usr/bin/env bash
# The main job: install what planning needs, build `parplan` and `parplan-sim` only (no LibTorch,
# no Qt: the runtime and GUI are built by scripts/test.sh or on demand, and `parplan run` says how
# when parplan-run is missing), and plan GPT-3 175B on 1,024 A100s end to end (search + rules +
# export, then a SimGrid simulation of the best plan).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
scripts/deps.sh --planning
# The runtime and the GUI stay configured when their packages are installed (so main and test
# share build/ without reconfiguring back and forth); they are not built here either way.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
torch=OFF gui=OFF
installed libtorch-dev && torch=ON
installed qt6-charts-dev && gui=ON
scripts/configure.sh -DPARPLAN_WITH_TORCH=$torch -DPARPLAN_WITH_GUI=$gui -DPARPLAN_WITH_SIMGRID=ON
jobs="${PARPLAN_JOBS:-$(nproc)}"
pp=build/apps/parplan
out=build/main
mkdir -p "$out"
# The planning binary first: the first plan is printed before the simulator is compiled.
cmake --build build --target parplan -j"$jobs"
set -x
$pp plan --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --gpus 1024 --top 5 \
  --out "$out/plan-gpt3-175b-1024.json"
$pp explain --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --gpus 1024
$pp predict --plan "$out/plan-gpt3-175b-1024.json"
$pp export --plan "$out/plan-gpt3-175b-1024.json" --to megatron
$pp sweep --model llama3-405b --cluster dgx-h100-80g --train llama3-15t --gpus 1024..16384
{ set +x; } 2>/dev/null
cmake --build build --target parplan-sim -j"$jobs"
set -x
if $pp simulate --help >/dev/null 2>&1 && ! $pp simulate --help 2>&1 | grep -q "not built"; then
  $pp simulate --plan "$out/plan-gpt3-175b-1024.json" --trace "$out/trace-gpt3-175b-1024.json" || true
fi
