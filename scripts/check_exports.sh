#!/bin/bash
# Runs every export of the plan set (tests/data/upstream/export-plans.json) through the training
# frameworks' own parsers and validators (scripts/check_exports.py; results in docs/exports.md).
#
#   scripts/check_exports.sh SRC_DIR [--md]
#
# SRC_DIR holds the sources at the recorded commits (CI cannot fetch them; the constraint tests in
# tests/planner/export_constraints_test.cpp keep what this found):
#   SRC_DIR/megatron         NVIDIA/Megatron-LM d98e8a64ddf34856e74b24714e3bedb2f5a39553
#   SRC_DIR/torchtitan       pytorch/torchtitan b5bcd76c66d0acb1a08b176d9639425bc55e0b2a (its torchtitan/)
#   SRC_DIR/torchtitan-toml  pytorch/torchtitan 238fa9953e4aec2a62582121564273d7cbb1e9f1 (its torchtitan/)
#   SRC_DIR/deepspeed        deepspeedai/DeepSpeed edaa7221267243c7be7fb49c5d5f5c4fb97b4641
#                            (deepspeed/, accelerator/, op_builder/, csrc/)
#   SRC_DIR/megatron-deepspeed argonne-lcf/Megatron-DeepSpeed ffa3456d68b630192fcaefcc3288bd18525b8d95
#   SRC_DIR/deps             pure-Python packages Debian 12 lacks, importable from there: tyro
#                            (>= 1.0.5, brentyi/tyro src/tyro), typeguard >= 4 (agronholm/typeguard
#                            src/typeguard), docstring_parser (rr-/docstring_parser), and for
#                            DeepSpeed pydantic 2 with pydantic_core, annotated_types,
#                            typing_inspection, typing_extensions >= 4.13
# DeepSpeed's engine is started on CPU (gloo, DeepSpeed's CPU accelerator), its CPU Adam kernel
# JIT-built from csrc/ with g++ into $TORCH_EXTENSIONS_DIR (default SRC_DIR/torch-extensions), and
# trains one step; with pipeline parallelism its PipelineEngine runs over one process per stage
# (up to 16 processes, ~4.5 GB together; scripts/check_exports_pipe.py).
# Debian packages (installed when missing): python3-torch (1.13) python3-numpy python3-yaml
# python3-packaging python3-psutil python3-tomli python3-cpuinfo python3-filelock python3-tqdm
# python3-msgpack. parplan itself: build/apps/parplan (scripts/configure.sh; cmake --build build
# --target parplan).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "error: give the folder of the framework sources (see the header of $0)" >&2
  exit 2
fi
src="$(cd "$1" && pwd)"
shift
for d in megatron torchtitan torchtitan-toml deepspeed megatron-deepspeed deps; do
  if [ ! -d "$src/$d" ]; then
    echo "error: $src/$d is missing (see the header of $0 for what it holds)" >&2
    exit 2
  fi
done
pkgs="python3-torch python3-numpy python3-yaml python3-packaging python3-psutil python3-tomli python3-cpuinfo python3-filelock python3-tqdm python3-msgpack"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >/dev/null
  else
    echo "error: missing Debian packages:$missing (sudo apt-get install$missing)" >&2
    exit 3
  fi
fi
parplan="$here/build/apps/parplan"
if [ ! -x "$parplan" ]; then
  echo "error: $parplan is not built (scripts/configure.sh && cmake --build build --target parplan)" >&2
  exit 3
fi
# DeepSpeed's CPU Adam (and FusedAdam) kernels are JIT-built once (minutes) and kept here.
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$src/torch-extensions}"
export PYTHONDONTWRITEBYTECODE=1  # nothing written into the checkout
exec /usr/bin/python3 "$here/scripts/check_exports.py" --parplan "$parplan" \
  --megatron "$src/megatron" --torchtitan "$src/torchtitan" --torchtitan-toml "$src/torchtitan-toml" \
  --deepspeed "$src/deepspeed" --megatron-deepspeed "$src/megatron-deepspeed" --deps "$src/deps" "$@"
