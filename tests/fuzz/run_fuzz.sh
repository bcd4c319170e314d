#!/usr/bin/env bash
# Builds the JSON-reader fuzz target with clang's libFuzzer (+ASan/UBSan) and runs RUNS inputs
# from a seed corpus of the shipped presets. Usage: run_fuzz.sh SOURCE_DIR PRESETS_CPP WORK_DIR [RUNS]
set -euo pipefail
src=$1 presets=$2 work=$3 runs=${4:-100000}
clangxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$clangxx" ]; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (scripts/deps.sh does)" >&2
  exit 1
fi
mkdir -p "$work/corpus"
cp "$src"/examples/*/*.json "$work/corpus/" 2>/dev/null || true
bin="$work/json_readers_fuzz"
if [ ! -x "$bin" ] || [ -n "$(find "$src/model" "$src/tests/fuzz" "$presets" -newer "$bin" -name '*.*pp' -print -quit)" ]; then
  "$clangxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/model/include" -I"$src/model/src" \
    "$src"/model/src/*.cpp "$presets" "$src/tests/fuzz/json_readers_fuzz.cpp" -o "$bin"
fi
"$bin" -runs="$runs" -max_len=4096 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" 2>&1 | tail -n 12
