#!/usr/bin/env bash
# Calibrate this machine, run a small GPT under each layout on 2 local ranks (Gloo, fp32), and
# compare the cost model's prediction with the measurement. Usage:
#   runtime/scripts/measure_layouts.sh [parplan binary] [work dir] [steps] [layout ...]
# Writes <work>/cluster.json (kept if present), <work>/<layout>.plan.json,
# <work>/<layout>.measured.json, <work>/<layout>.compare.json and prints one table (also
# <work>/table.md). A layout the runtime refuses ("not implemented") is listed as missing.
# PARPLAN_STAT picks the step time compared (default min: on a shared machine the fastest step is
# the layout's cost without others' load; calibrate takes the fastest repetition likewise).
# Takes about 3 minutes on a 2-core machine.
set -euo pipefail
PARPLAN=${1:-build/apps/parplan}
WORK=${2:-/tmp/parplan-measure}
STEPS=${3:-8}
shift $(($# < 3 ? $# : 3))
DATA=${PARPLAN_DATA:-$(dirname "$0")/../../../shared/data/tinyshakespeare/input.txt}
STAT=${PARPLAN_STAT:-min}  # step time compared: mean | median | min (min on a shared machine)
mkdir -p "$WORK"
[ -f "$WORK/cluster.json" ] || "$PARPLAN" calibrate --nproc 2 --out "$WORK/cluster.json"

# name dp tp pp cp zero schedule virtual_stages sequence_parallel [ep moe]
ALL="single:1:1:1:1:0:1f1b:1:false dp2:2:1:1:1:0:1f1b:1:false tp2:1:2:1:1:0:1f1b:1:false
pp2:1:1:2:1:0:1f1b:1:false pp2_interleaved:1:1:2:1:0:interleaved:2:false
sp_tp2:1:2:1:1:0:1f1b:1:true cp2:1:1:1:2:0:1f1b:1:false zero1:2:1:1:1:1:1f1b:1:false
zero2:2:1:1:1:2:1f1b:1:false zero3:2:1:1:1:3:1f1b:1:false
moe_single:1:1:1:1:0:1f1b:1:false:1:true ep2:2:1:1:1:0:1f1b:1:false:2:true"

plan() {  # name dp tp pp cp zero schedule virtual_stages sp ep moe
  python3 - "$WORK" "$@" <<'PY'
import json, sys
work, name, dp, tp, pp, cp, zero, sched, v, sp, ep, moe = sys.argv[1:]
cluster = json.load(open(f"{work}/cluster.json"))
cluster.pop("calibration", None)
plan = {"model": {"name": "gpt-char-small", "layers": 4, "hidden": 128, "heads": 4, "kv_heads": 4,
                  "ffn_hidden": 512, "vocab": 65, "max_seq_len": 64, "tied_embeddings": False,
                  "gated_mlp": False},
        "cluster": cluster,
        "train": {"global_batch": 16, "seq_len": 64, "dtype": "fp32", "optimizer": "adam",
                  "learning_rate": 1e-3},
        "layout": {"dp": int(dp), "tp": int(tp), "pp": int(pp), "cp": int(cp), "micro_batch": 4,
                   "zero": int(zero), "recompute": "none", "sequence_parallel": sp == "true",
                   "schedule": sched, "virtual_stages": int(v), "offload": "none"}}
if moe == "true":  # the MoE variant: 4 experts of width 256, top-2, in layers 1..3
    plan["model"].update(name="gpt-char-small-moe",
                         moe={"experts": 4, "experts_per_token": 2, "expert_ffn_hidden": 256,
                              "first_dense_layers": 1})
    plan["layout"]["ep"] = int(ep)
json.dump(plan, open(f"{work}/{name}.plan.json", "w"), indent=1)
PY
}

ran=() missing=()
for spec in $ALL; do
  IFS=: read -r name dp tp pp cp zero sched v sp ep moe <<<"$spec"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  plan "$name" "$dp" "$tp" "$pp" "$cp" "$zero" "$sched" "$v" "$sp" "${ep:-1}" "${moe:-false}"
  if "$PARPLAN" run --plan "$WORK/$name.plan.json" --data "$DATA" --steps "$STEPS" --threads 1 \
       --eval-iters 1 --quiet --out "$WORK/$name.measured.json" >"$WORK/$name.log" 2>&1; then
    "$PARPLAN" compare --measured "$WORK/$name.measured.json" --stat "$STAT" --json \
      >"$WORK/$name.compare.json"
    ran+=("$name")
  else
    missing+=("$name: $(grep -m1 -A2 -E 'not implemented|error|cannot' "$WORK/$name.log" | tr '\n' ' ' || tail -1 "$WORK/$name.log")")
  fi
done

python3 - "$WORK" "$STAT" "${ran[@]}" <<'PY'
import json, sys
work, stat, names = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = [f"| layout | predicted | measured mean | median | min | error ({stat}) | memory predicted | "
         "peak tensors measured | error |", "|" + " --- |" * 9]
for n in names:
    m = json.load(open(f"{work}/{n}.measured.json"))
    c = json.load(open(f"{work}/{n}.compare.json"))
    st, mem = c["step_time_s"], c["memory_per_rank_bytes"]
    lines.append(f"| {n} | {st['predicted']:.3f} s | {m['mean_step_time_s']:.3f} s | "
                 f"{m['median_step_time_s']:.3f} s | {m['min_step_time_s']:.3f} s | "
                 f"{100 * st['error']:+.1f}% | {mem['predicted'] / 1e6:.1f} MB | "
                 f"{mem['measured'] / 1e6:.1f} MB | {100 * mem['error']:+.1f}% |")
open(f"{work}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
for m in "${missing[@]}"; do echo "missing: $m"; done
