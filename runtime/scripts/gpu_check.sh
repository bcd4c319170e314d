#!/usr/bin/env bash
# GPU check of the runtime (not run by CI). On a machine with NVIDIA GPUs and a CUDA PyTorch:
# builds parplan against that PyTorch's LibTorch, calibrates the GPUs, runs the Shakespeare GPT
# on all local GPUs over NCCL as DP, TP, PP, ZeRO-3, SP and CP, and prints MFU, tokens/s, peak
# memory and predicted-vs-measured step time and memory as one table. Under 8 minutes.
#   runtime/scripts/gpu_check.sh OUT_DIR [steps]
# Writes OUT_DIR/{env.txt, build.log, cluster.json, <layout>.plan.json, <layout>.measured.json,
# <layout>.compare.json, <layout>.log, summary.md, summary.json}. Nothing outside OUT_DIR is
# written. Without a CUDA PyTorch or a visible GPU it says so and runs the CPU/Gloo fallback: the
# same layouts on 2 CPU ranks with a smaller model, built against the system LibTorch
# (PARPLAN_BIN=path/to/parplan skips the build in either case).
# Environment: PARPLAN_DATA (text file; default the repository's shared Tiny Shakespeare),
# PYTHON (default python3), PARPLAN_BUDGET_S (default 470: later layouts are skipped past it).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [steps]" >&2
  exit 2
fi
OUT=$1
STEPS=${2:-30}
BUDGET=${PARPLAN_BUDGET_S:-470}
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${PARPLAN_DATA:-$REPO/../shared/data/tinyshakespeare/input.txt}
[ -f "$DATA" ] || DATA=$REPO/shared/data/tinyshakespeare/input.txt
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SECONDS=0
log() { echo "gpu_check: $*" | tee -a "$OUT/env.txt"; }
: >"$OUT/env.txt"

if [ ! -f "$DATA" ]; then
  echo "gpu_check: no training text at $DATA; set PARPLAN_DATA to a UTF-8 text file" >&2
  exit 2
fi
command -v "$PY" >/dev/null || { echo "gpu_check: $PY not found (set PYTHON)" >&2; exit 3; }

# --- what this machine has ---------------------------------------------------------------
GPUS=0
TORCH_PREFIX=""
ABI=1
if info=$("$PY" - 2>/dev/null <<'PY'
import torch
print(torch.__version__, torch.version.cuda or "none", int(torch.compiled_with_cxx11_abi()),
      torch.cuda.device_count() if torch.cuda.is_available() else 0, torch.utils.cmake_prefix_path)
PY
); then
  read -r TV CV ABI GPUS TORCH_PREFIX <<<"$info"
  log "PyTorch $TV, CUDA $CV, cxx11 ABI $ABI, $GPUS GPU(s) visible"
else
  log "no importable PyTorch in $PY"
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$OUT/env.txt" 2>&1 || true
fi
MODE=gpu
if [ "${GPUS:-0}" -lt 1 ] || [ "${CV:-none}" = none ]; then
  MODE=cpu
  log "no CUDA PyTorch with a visible GPU: CPU/Gloo fallback (2 ranks, small model)"
fi

# --- build -------------------------------------------------------------------------------
BIN=${PARPLAN_BIN:-}
if [ -z "$BIN" ]; then
  BUILD=$OUT/build
  args=(-S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARPLAN_WITH_TORCH=ON
        -DPARPLAN_WITH_SIMGRID=OFF -DPARPLAN_WITH_GUI=OFF -DPARPLAN_BUILD_BENCH=OFF)
  if [ "$MODE" = gpu ]; then
    args+=(-DCMAKE_PREFIX_PATH="$TORCH_PREFIX")
    # PyTorch wheels before 2.x were built with the old C++ ABI: the whole project must match.
    [ "$ABI" = 0 ] && args+=(-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=0)
  fi
  log "building parplan ($MODE) in $BUILD"
  if ! { cmake "${args[@]}" && cmake --build "$BUILD" -j"$(nproc)" --target parplan; } >"$OUT/build.log" 2>&1; then
    tail -30 "$OUT/build.log" >&2
    echo "gpu_check: the build failed (log: $OUT/build.log)" >&2
    exit 3
  fi
  grep -E "runtime: (CUDA LibTorch|LibTorch without CUDA)" "$OUT/build.log" | tee -a "$OUT/env.txt" || true
  if [ "$MODE" = gpu ] && ! grep -q "CUDA path enabled" "$OUT/build.log"; then
    echo "gpu_check: LibTorch at $TORCH_PREFIX did not enable the CUDA path (see build.log)" >&2
    exit 3
  fi
  BIN=$BUILD/apps/parplan
fi
log "build done at ${SECONDS}s"

# --- calibrate ---------------------------------------------------------------------------
if [ "$MODE" = gpu ]; then
  NPROC=$GPUS BACKEND=nccl THREADS=4
else
  NPROC=2 BACKEND=gloo THREADS=1
fi
timeout 120 "$BIN" calibrate --nproc "$NPROC" --backend "$BACKEND" --out "$OUT/cluster.json" \
  >"$OUT/calibrate.log" 2>&1 || { cat "$OUT/calibrate.log" >&2; echo "gpu_check: calibrate failed" >&2; exit 3; }
tee -a "$OUT/env.txt" <"$OUT/calibrate.log"
log "calibrated at ${SECONDS}s"

# --- layouts -----------------------------------------------------------------------------
# name dp tp pp cp zero sequence_parallel schedule (nproc = dp * tp * pp * cp)
layouts() {
  local g=$1
  local h=$((g / 2))
  echo "single 1 1 1 1 0 false 1f1b"
  [ "$g" -lt 2 ] && return
  echo "dp$g $g 1 1 1 0 false 1f1b"
  echo "tp$g 1 $g 1 1 0 false 1f1b"
  echo "pp2_dp$h $h 1 2 1 0 false 1f1b"
  echo "zero3_dp$g $g 1 1 1 3 false 1f1b"
  echo "sp_tp$g 1 $g 1 1 0 true 1f1b"
  echo "cp2_dp$h $h 1 1 2 0 false 1f1b"
}
plan() {  # name dp tp pp cp zero sp schedule
  "$PY" - "$OUT" "$MODE" "$@" <<'PY'
import json, sys
out, mode, name, dp, tp, pp, cp, zero, sp, sched = sys.argv[1:]
cluster = json.load(open(f"{out}/cluster.json"))
cluster.pop("calibration", None)
if mode == "gpu":  # nanoGPT's shakespeare-char shape, 8 heads / 8 layers so 2, 4, 8 GPUs divide
    model = dict(layers=8, hidden=512, heads=8, ffn_hidden=2048, max_seq_len=256)
    train = dict(global_batch=64, seq_len=256)
    mb = 4
else:
    model = dict(layers=4, hidden=128, heads=4, ffn_hidden=512, max_seq_len=64)
    train = dict(global_batch=16, seq_len=64)
    mb = 2
model.update(name="gpt-shakespeare-char", kv_heads=model["heads"], vocab=65,
             tied_embeddings=False, gated_mlp=False)
train.update(dtype="fp32", optimizer="adam", learning_rate=1e-3)
plan = {"model": model, "cluster": cluster, "train": train,
        "layout": {"dp": int(dp), "tp": int(tp), "pp": int(pp), "cp": int(cp), "micro_batch": mb,
                   "zero": int(zero), "recompute": "none", "sequence_parallel": sp == "true",
                   "schedule": sched, "virtual_stages": 1, "offload": "none"}}
json.dump(plan, open(f"{out}/{name}.plan.json", "w"), indent=1)
PY
}

G=$NPROC
[ "$MODE" = gpu ] || G=2
ran=()
while read -r name dp tp pp cp zero sp sched; do
  n=$((dp * tp * pp * cp))
  if [ "$SECONDS" -gt "$BUDGET" ]; then
    log "$name: skipped (time budget ${BUDGET}s spent)"
    continue
  fi
  plan "$name" "$dp" "$tp" "$pp" "$cp" "$zero" "$sp" "$sched"
  if timeout 150 "$BIN" run --plan "$OUT/$name.plan.json" --data "$DATA" --nproc "$n" \
       --backend "$BACKEND" --steps "$STEPS" --threads "$THREADS" --eval-iters 1 --quiet \
       --out "$OUT/$name.measured.json" >"$OUT/$name.log" 2>&1 &&
     "$BIN" compare --measured "$OUT/$name.measured.json" --cluster "$OUT/cluster.json" --json \
       >"$OUT/$name.compare.json" 2>>"$OUT/$name.log"; then
    ran+=("$name")
  else
    log "$name: failed or not runnable: $(grep -m1 -A2 -E 'error|cannot|not implemented' "$OUT/$name.log" | tr '\n' ' ' || tail -1 "$OUT/$name.log")"
  fi
done < <(layouts "$G")
log "layouts done at ${SECONDS}s"

# --- one table ---------------------------------------------------------------------------
"$PY" - "$OUT" "$MODE" "${ran[@]}" <<'PY'
import json, sys
out, mode, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, md = [], []
hdr = ("layout", "ranks", "step s (meas)", "step s (pred)", "err", "tokens/s", "MFU",
       "peak mem GiB (meas)", "mem GiB (pred)", "err")
md.append("| " + " | ".join(hdr) + " |")
md.append("|" + " --- |" * len(hdr))
for n in names:
    m = json.load(open(f"{out}/{n}.measured.json"))
    c = json.load(open(f"{out}/{n}.compare.json"))
    st, mem = c["step_time_s"], c["memory_per_rank_bytes"]
    row = dict(layout=n, ranks=m["nproc"], memory_kind=m.get("memory_kind"),
               step_measured_s=st["measured"], step_predicted_s=st["predicted"], step_error=st["error"],
               tokens_per_s=m["tokens_per_s"], mfu=m["mfu"],
               peak_memory_bytes=mem["measured"], predicted_memory_bytes=mem["predicted"],
               memory_error=mem["error"], final_loss=m["loss"][-1], device=m.get("device"))
    rows.append(row)
    md.append(f"| {n} | {row['ranks']} | {st['measured']:.4f} | {st['predicted']:.4f} | "
              f"{100*st['error']:+.1f}% | {row['tokens_per_s']:.0f} | {100*row['mfu']:.1f}% | "
              f"{mem['measured']/2**30:.3f} | {mem['predicted']/2**30:.3f} | {100*mem['error']:+.1f}% |")
note = ("GPU: NCCL on cuda:LOCAL_RANK; peak memory = CUDA caching allocator's peak allocated bytes; "
        if mode == "gpu" else
        "CPU fallback (no CUDA GPU): Gloo, peak memory = measured peak of live tensor bytes; ")
note += "MFU against the calibrated fp32 matmul peak (cluster.json); predicted with cluster.json."
open(f"{out}/summary.json", "w").write(json.dumps({"mode": mode, "rows": rows, "note": note}, indent=1))
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n\n" + note + "\n")
print("\n".join(md))
print(note)
PY
log "finished in ${SECONDS}s; results in $OUT"
