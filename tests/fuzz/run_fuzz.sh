#!/usr/bin/env bash
# Builds the libFuzzer targets (+ASan/UBSan) with clang and runs RUNS inputs of each from a seed
# corpus: the shipped presets and plans, and skeletons of measured.json.
#   json_readers_fuzz    model/cluster/train/layout/plan readers (tests/fuzz/json_readers_fuzz.cpp)
#   measured_plan_fuzz   measured.json and plan.json as compare/fit/export read them
# Mutation is structure-aware (json_mutator.hpp); -max_len 1 MiB leaves room for long strings
# and 100k-level nesting inside fields.
# Usage: run_fuzz.sh SOURCE_DIR PRESETS_CPP WORK_DIR [RUNS] [TARGET]
set -euo pipefail
src=$1 presets=$2 work=$3 runs=${4:-20000} only=${5:-}
clangxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$clangxx" ]; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (scripts/deps.sh does)" >&2
  exit 1
fi
for target in json_readers_fuzz measured_plan_fuzz; do
  [ -n "$only" ] && [ "$only" != "$target" ] && continue
  corpus="$work/corpus_$target"
  mkdir -p "$corpus"
  cp "$src"/examples/*/*.json "$corpus/" 2>/dev/null || true
  cat > "$corpus/seed_measured.json" <<'JSON'
{"mean_step_time_s": 0.5, "median_step_time_s": 0.5, "min_step_time_s": 0.4, "tokens_per_s": 100,
 "mfu": 0.1, "peak_memory_bytes": [1e9, 2e9], "memory_kind": "model_state",
 "plan": {"model": {"name": "m", "layers": 2, "hidden": 64, "heads": 4, "vocab": 100},
          "cluster": {"name": "c", "nodes": 1, "gpus_per_node": 2}, "train": {"global_batch": 8,
          "seq_len": 64}, "layout": {"dp": 2}, "prediction": {"step_time_s": 1}, "rules": []}}
JSON
  bin="$work/$target"
  if [ ! -x "$bin" ] || [ -n "$(find "$src/model" "$src/tests/fuzz" "$presets" -newer "$bin" -name '*.*pp' -print -quit)" ]; then
    "$clangxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I"$src/model/include" -I"$src/model/src" -I"$src/tests/fuzz" \
      "$src"/model/src/*.cpp "$presets" "$src/tests/fuzz/$target.cpp" -o "$bin"
  fi
  echo "== $target: $runs runs"
  "$bin" -runs="$runs" -max_len=1048576 -len_control=20 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$work/$target-" "$corpus" 2>&1 | tail -n 8
done
