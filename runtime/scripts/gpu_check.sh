#!/usr/bin/env bash
# The runtime's first-GPU check, prepared to work in one call on a lent machine: one or more
# NVIDIA GPUs (H100 / H200), CUDA, CMake, ninja and a CUDA PyTorch in `python3`; no apt, no
# network. It
#   1. builds `parplan-run` against that PyTorch's LibTorch (torch.utils.cmake_prefix_path ->
#      TorchConfig.cmake; -D_GLIBCXX_USE_CXX11_ABI from torch.compiled_with_cxx11_abi(), for the
#      whole project), without SimGrid, Qt, GoogleTest, bench and the NCCL probe unit; the
#      header-only nlohmann/json, CLI11 and Eigen come from the system when CMake finds them,
#      else from PARPLAN_VENDOR (a folder with nlohmann/, CLI/ and Eigen/ include trees: made on
#      any Debian machine by `runtime/scripts/gpu_check.sh --vendor DIR` and carried along);
#      for each one the script writes a small CMake package config at build time;
#   2. trains a Llama-style model (RMSNorm, SwiGLU, rotary, GQA 16 heads / 4 KV heads, no biases,
#      untied; 16 layers, hidden 1024: 181M parameters) in bf16 autocast (fp32 master weights,
#      fp32 gradients = the plan's train.fp32_grad_accum) with SDPA attention on one GPU for a fixed number of steps, and reports
#      tokens/s, MFU (model FLOPs of cost::step_flops: 6 N per token plus the attention-score
#      matmuls, Narayanan et al. 2021 eq. 3 without recomputation, over the cluster preset's bf16
#      peak), the caching allocator's peak memory and predicted vs measured step time and memory
#      with the GPU's cluster preset (dgx-h100-80g; H200: the same with 141 GiB at 4.8 TB/s);
#   3. with >= 2 GPUs, the NCCL runs dp, tp, pp and ZeRO-3 over all of them;
#   4. writes OUT_DIR/summary.md (one table) and OUT_DIR/summary.json, plus every plan, log,
#      measured.json and compare.json. Budget: under 6 minutes (PARPLAN_BUDGET_S, default 330;
#      layouts past it are skipped and say so).
# Without a CUDA PyTorch or a visible GPU the same script runs its CPU fallback (what CI runs):
# the system LibTorch, a tiny Llama on 1 and 2 Gloo ranks for a few steps, the cpu-host preset.
# Every missing piece stops the script with one line "gpu_check: error: ..." and exit 3.
#   runtime/scripts/gpu_check.sh OUT_DIR [steps]
#   runtime/scripts/gpu_check.sh --vendor DIR   (copy this machine's nlohmann/CLI11/Eigen headers)
# Environment: PARPLAN_BIN (a built parplan or parplan-run: skip the build), PARPLAN_DATA (text;
# default the shared Tiny Shakespeare), PYTHON (default python3), PARPLAN_VENDOR, PARPLAN_BUDGET_S.
set -euo pipefail

die() { echo "gpu_check: error: $*" >&2; exit 3; }
if [ "${1:-}" = "--vendor" ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --vendor DIR" >&2; exit 2; }
  mkdir -p "$2"
  for d in /usr/include/nlohmann /usr/include/CLI /usr/include/eigen3/Eigen; do
    [ -d "$d" ] || die "$d not found (Debian: nlohmann-json3-dev, libcli11-dev, libeigen3-dev)"
    cp -r "$d" "$2/"
  done
  echo "gpu_check: headers in $2 ($(du -sh "$2" | cut -f1)); pass PARPLAN_VENDOR=$2"
  exit 0
fi
if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_DIR [steps]" >&2
  exit 2
fi
OUT=$1
STEPS=${2:-}
BUDGET=${PARPLAN_BUDGET_S:-330}
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${PARPLAN_DATA:-$REPO/../shared/data/tinyshakespeare/input.txt}
[ -f "$DATA" ] || DATA=$REPO/shared/data/tinyshakespeare/input.txt
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
SECONDS=0
log() { echo "gpu_check: $*" | tee -a "$OUT/env.txt"; }
: >"$OUT/env.txt"
[ -f "$DATA" ] || die "no training text at $DATA; set PARPLAN_DATA to a UTF-8 text file"
command -v "$PY" >/dev/null || die "$PY not found (set PYTHON)"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

# --- what this machine has ---------------------------------------------------------------
GPUS=0 CV=none ABI=1 TORCH_PREFIX=""
if info=$("$PY" - 2>/dev/null <<'PY'
import torch
print(torch.__version__, torch.version.cuda or "none", int(torch.compiled_with_cxx11_abi()),
      torch.cuda.device_count() if torch.cuda.is_available() else 0, torch.utils.cmake_prefix_path)
PY
); then
  read -r TV CV ABI GPUS TORCH_PREFIX <<<"$info"
  log "PyTorch $TV, CUDA $CV, cxx11 ABI $ABI, $GPUS GPU(s) visible, LibTorch CMake prefix $TORCH_PREFIX"
else
  log "no importable PyTorch in $PY"
fi
GPU_NAME=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$OUT/env.txt" 2>&1 || true
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
fi
MODE=gpu
if [ "${GPUS:-0}" -lt 1 ] || [ "$CV" = none ]; then
  MODE=cpu
  log "no CUDA PyTorch with a visible GPU: CPU fallback (system LibTorch, tiny Llama, Gloo)"
fi
if [ "$MODE" = gpu ]; then
  [ -f "$TORCH_PREFIX/Torch/TorchConfig.cmake" ] || die "no TorchConfig.cmake under $TORCH_PREFIX/Torch (this PyTorch ships no LibTorch CMake files)"
  TORCH_ROOT=$(cd "$TORCH_PREFIX/../.." && pwd)  # site-packages/torch: include/ and lib/
  [ -d "$TORCH_ROOT/include/torch/csrc/distributed/c10d" ] || die "$TORCH_ROOT/include has no c10d headers"
  [ -f "$TORCH_ROOT/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp" ] || die "this PyTorch has no ProcessGroupNCCL.hpp (built without NCCL)"
  ls "$TORCH_ROOT"/lib/libtorch_cuda.so >/dev/null 2>&1 || die "$TORCH_ROOT/lib/libtorch_cuda.so missing: not a CUDA build"
  STEPS=${STEPS:-30}
else
  STEPS=${STEPS:-3}
fi

# --- build -------------------------------------------------------------------------------
# A CMake package config for a header-only library found in $1 (include root), as target $2.
vendor_config() {  # name target include_dir version
  local d=$OUT/vendor-cmake/$1
  mkdir -p "$d"
  cat >"$d/$1Config.cmake" <<EOF
# Written by gpu_check.sh: $1 from $3 (header-only).
if(NOT TARGET $2)
  add_library($2 INTERFACE IMPORTED)
  set_target_properties($2 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$3")
endif()
set($1_FOUND TRUE)
EOF
  cat >"$d/$1ConfigVersion.cmake" <<EOF
set(PACKAGE_VERSION "$4")
set(PACKAGE_VERSION_COMPATIBLE TRUE)
EOF
  echo "-D$1_DIR=$d"
}
header_dir() {  # relative header -> first include root holding it
  for root in /usr/include /usr/local/include /usr/include/eigen3 /usr/local/include/eigen3 \
              ${PARPLAN_VENDOR:+"$PARPLAN_VENDOR"}; do
    [ -f "$root/$1" ] && { echo "$root"; return 0; }
  done
  return 1
}

BIN=${PARPLAN_BIN:-}
if [ -z "$BIN" ]; then
  command -v cmake >/dev/null || die "cmake not found"
  command -v ninja >/dev/null || die "ninja not found"
  BUILD=$OUT/build
  args=(-S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARPLAN_WITH_TORCH=ON
        -DPARPLAN_WITH_SIMGRID=OFF -DPARPLAN_WITH_GUI=OFF -DPARPLAN_WITH_NCCL=OFF
        -DPARPLAN_BUILD_TESTS=OFF -DPARPLAN_BUILD_BENCH=OFF -DPARPLAN_WERROR=OFF)
  if [ "$MODE" = gpu ]; then
    args+=(-DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI="$ABI")
    # Header-only dependencies: the system's if present, else PARPLAN_VENDOR's (configs written here).
    for spec in "nlohmann_json nlohmann_json::nlohmann_json nlohmann/json.hpp 3.11.2" \
                "CLI11 CLI11::CLI11 CLI/CLI.hpp 2.1.2" "Eigen3 Eigen3::Eigen Eigen/Dense 3.4.0"; do
      read -r name target header version <<<"$spec"
      root=$(header_dir "$header") ||
        die "$header not found on this machine; make a vendor folder on a Debian machine with \`$0 --vendor DIR\` and set PARPLAN_VENDOR=DIR"
      args+=("$(vendor_config "$name" "$target" "$root" "$version")")
      log "$name: headers from $root"
    done
  fi
  log "building parplan-run ($MODE) in $BUILD"
  if ! { cmake "${args[@]}" && cmake --build "$BUILD" -j"$(nproc)" --target parplan-run; } >"$OUT/build.log" 2>&1; then
    tail -30 "$OUT/build.log" >&2
    die "the build failed (log: $OUT/build.log)"
  fi
  grep -E "runtime: (CUDA LibTorch|LibTorch without CUDA)" "$OUT/build.log" | tee -a "$OUT/env.txt" || true
  if [ "$MODE" = gpu ] && ! grep -q "CUDA path enabled" "$OUT/build.log"; then
    die "LibTorch at $TORCH_PREFIX did not enable the runtime's CUDA path (see $OUT/build.log)"
  fi
  BIN=$BUILD/apps/parplan-run
fi
[ -x "$BIN" ] || die "$BIN is not an executable (PARPLAN_BIN)"
log "build done at ${SECONDS}s"

# --- plans -------------------------------------------------------------------------------
# name dp tp pp zero (nproc = dp * tp * pp)
layouts() {
  local g=$1
  echo "single 1 1 1 0"
  [ "$g" -lt 2 ] && return
  echo "dp$g $g 1 1 0"
  echo "tp$g 1 $g 1 0"
  echo "pp2_dp$((g / 2)) $((g / 2)) 1 2 0"
  echo "zero3_dp$g $g 1 1 3"
}
plan() {  # name dp tp pp zero
  "$PY" - "$OUT" "$MODE" "$REPO" "$GPU_NAME" "$@" <<'PY'
import json, sys
out, mode, repo, gpu_name, name, dp, tp, pp, zero = sys.argv[1:]
if mode == "gpu":
    cluster = json.load(open(f"{repo}/examples/clusters/dgx-h100-80g.json"))
    cluster.update(name="lent-" + cluster["name"], nodes=1)
    if "H200" in gpu_name:  # NVIDIA H200 datasheet: 141 GB HBM3e at 4.8 TB/s, H100 compute
        cluster["gpu"].update(name="H200-SXM-141GB", memory_GiB=131.3, memory_GBps=4800)
    model = dict(layers=16, hidden=1024, heads=16, kv_heads=4, ffn_hidden=2816, max_seq_len=1024)
    # fp32_grad_accum: the runtime keeps fp32 gradients under autocast; the cost model then
    # prices 2 (bf16 weight copies: autocast's cache) + 4 (grads) + 12 (master, Adam) bytes/param.
    train = dict(global_batch=16, seq_len=1024, dtype="bf16", attention="flash", fp32_grad_accum=True)
    mb = 4
else:
    cluster = json.load(open(f"{repo}/examples/clusters/cpu-host.json"))
    model = dict(layers=2, hidden=64, heads=4, kv_heads=2, ffn_hidden=176, max_seq_len=64)
    train = dict(global_batch=8, seq_len=64, dtype="fp32", attention="standard")
    mb = 2
model.update(name="llama-style", vocab=65, tied_embeddings=False, gated_mlp=True, activation="silu",
             position="rotary", rotary_base=10000, norm="rmsnorm", qkv_bias=False, linear_bias=False)
# The runtime as it runs (examples/frameworks/parplan-runtime.json): its eager layer, saved
# activations, reductions and operator inventory.
train.update(optimizer="adam", learning_rate=3e-4, framework="parplan-runtime")
plan = {"model": model, "cluster": cluster, "train": train,
        "layout": {"dp": int(dp), "tp": int(tp), "pp": int(pp), "cp": 1, "micro_batch": mb,
                   "zero": int(zero), "recompute": "none", "sequence_parallel": False,
                   "schedule": "1f1b", "virtual_stages": 1, "offload": "none"}}
json.dump(plan, open(f"{out}/{name}.plan.json", "w"), indent=1)
json.dump(cluster, open(f"{out}/cluster.json", "w"), indent=1)
PY
}

if [ "$MODE" = gpu ]; then G=$GPUS BACKEND=nccl THREADS=4; else G=2 BACKEND=gloo THREADS=1; fi
ran=() failed=()
while read -r name dp tp pp zero; do
  n=$((dp * tp * pp))
  if [ "$SECONDS" -gt "$BUDGET" ]; then
    log "$name: skipped (time budget ${BUDGET}s spent)"
    continue
  fi
  plan "$name" "$dp" "$tp" "$pp" "$zero"
  if timeout 150 "$BIN" run --plan "$OUT/$name.plan.json" --data "$DATA" --nproc "$n" \
       --backend "$BACKEND" --steps "$STEPS" --threads "$THREADS" --eval-iters 1 --quiet \
       --timeout-s 60 --out "$OUT/$name.measured.json" >"$OUT/$name.log" 2>&1 &&
     "$BIN" compare --measured "$OUT/$name.measured.json" --cluster "$OUT/cluster.json" --json \
       >"$OUT/$name.compare.json" 2>>"$OUT/$name.log"; then
    ran+=("$name")
    log "$name: done at ${SECONDS}s"
  else
    failed+=("$name")
    log "$name: failed: $(grep -m1 -E 'error' "$OUT/$name.log" || tail -1 "$OUT/$name.log")"
  fi
done < <(layouts "$G")
[ ${#ran[@]} -gt 0 ] || die "no layout ran (logs in $OUT)"

# --- one table and its JSON ----------------------------------------------------------------
"$PY" - "$OUT" "$MODE" "$SECONDS" "${ran[@]}" <<'PY'
import json, sys
out, mode, secs, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rows = []
hdr = ("layout", "ranks", "precision", "step s meas", "step s pred", "err", "tokens/s", "MFU",
       "peak mem GiB meas", "mem GiB pred", "err")
md = ["| " + " | ".join(hdr) + " |", "|" + " --- |" * len(hdr)]
for n in names:
    m = json.load(open(f"{out}/{n}.measured.json"))
    c = json.load(open(f"{out}/{n}.compare.json"))
    st, mem = c["step_time_s"], c["memory_per_rank_bytes"]
    row = dict(layout=n, ranks=m["nproc"], device=m.get("device"), backend=m.get("backend"),
               precision=m.get("precision"), memory_kind=m.get("memory_kind"),
               step_measured_s=st["measured"], step_predicted_s=st["predicted"], step_error=st["error"],
               tokens_per_s=m["tokens_per_s"], mfu=m["mfu"], peak_memory_bytes=mem["measured"],
               predicted_memory_bytes=mem["predicted"], memory_error=mem["error"],
               final_loss=m["loss"][-1])
    rows.append(row)
    md.append(f"| {n} | {row['ranks']} | {row['precision']} | {st['measured']:.4f} | {st['predicted']:.4f} | "
              f"{100*st['error']:+.1f}% | {row['tokens_per_s']:.0f} | {100*row['mfu']:.1f}% | "
              f"{mem['measured']/2**30:.3f} | {mem['predicted']/2**30:.3f} | {100*mem['error']:+.1f}% |")
note = ("GPU: NCCL on cuda:LOCAL_RANK, bf16 autocast over fp32 master weights, SDPA attention; peak memory = "
        "the CUDA caching allocator's peak allocated bytes; " if mode == "gpu" else
        "CPU fallback (no CUDA GPU): Gloo, fp32; peak memory = measured peak of live tensor bytes; ")
note += ("MFU = cost::step_flops(model) / ranks / step time / the cluster preset's peak for the plan's dtype; "
         f"predicted with {out}/cluster.json; {secs} s in all.")
json.dump({"mode": mode, "rows": rows, "note": note, "seconds": secs}, open(f"{out}/summary.json", "w"), indent=1)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n\n" + note + "\n")
print("\n".join(md))
print(note)
PY
log "finished in ${SECONDS}s; results in $OUT/summary.md and $OUT/summary.json"
[ ${#failed[@]} -eq 0 ] || die "${#failed[@]} layout(s) failed: ${failed[*]} (logs in $OUT)"
