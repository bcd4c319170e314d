#!/usr/bin/env bash
# The main job: install what is missing, build `parplan`, and plan GPT-3 175B on 1,024 A100s end
# to end (search + rules + export, then a SimGrid simulation of the best plan).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
scripts/deps.sh
scripts/configure.sh
cmake --build build --target parplan parplan-sim -j"$(nproc)"
pp=build/apps/parplan
out=build/main
mkdir -p "$out"
set -x
$pp plan --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --gpus 1024 --top 5 \
  --out "$out/plan-gpt3-175b-1024.json"
$pp explain --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --gpus 1024
$pp predict --plan "$out/plan-gpt3-175b-1024.json"
$pp export --plan "$out/plan-gpt3-175b-1024.json" --to megatron
$pp sweep --model llama3-405b --cluster dgx-h100-80g --train llama3-15t --gpus 1024..16384
if $pp simulate --help >/dev/null 2>&1 && ! $pp simulate --help 2>&1 | grep -q "not built"; then
  $pp simulate --plan "$out/plan-gpt3-175b-1024.json" --trace "$out/trace-gpt3-175b-1024.json" || true
fi
