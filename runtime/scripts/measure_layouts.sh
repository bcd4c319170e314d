#!/usr/bin/env bash
# Calibrate this machine, run a small GPT (and its MoE variant) under each layout on 1-2 local
# ranks (Gloo, fp32): single, DP, TP, PP 1F1B and interleaved, SP, CP, ZeRO 1-3, EP; and
# compare the cost model's prediction with the measurement. Usage:
#   runtime/scripts/measure_layouts.sh [parplan binary] [work dir] [steps]
# Writes <work>/cluster.json, <work>/<layout>.plan.json, <work>/<layout>.measured.json and prints
# the comparison table. Takes about 2 minutes on a 2-core machine.
set -euo pipefail
PARPLAN=${1:-build/apps/parplan}
WORK=${2:-/tmp/parplan-measure}
STEPS=${3:-8}
DATA=${PARPLAN_DATA:-$(dirname "$0")/../../../shared/data/tinyshakespeare/input.txt}
mkdir -p "$WORK"
[ -f "$WORK/cluster.json" ] || "$PARPLAN" calibrate --nproc 2 --out "$WORK/cluster.json"

plan() {  # name dp tp pp zero schedule [key=value ...: sp=1 v=2 cp=2 ep=2 moe=1]
  python3 - "$WORK" "$@" <<'PY'
import json, sys
work, name, dp, tp, pp, zero, sched = sys.argv[1:8]
extra = dict(a.split("=", 1) for a in sys.argv[8:])
cluster = json.load(open(f"{work}/cluster.json"))
cluster.pop("calibration", None)
model = {"name": "gpt-char-small", "layers": 4, "hidden": 128, "heads": 4, "kv_heads": 4,
         "ffn_hidden": 512, "vocab": 65, "max_seq_len": 64, "tied_embeddings": False,
         "gated_mlp": False}
if extra.get("moe") == "1":  # 4 experts of width 256, top-2, in layers 1..3
    model.update(name="gpt-char-small-moe",
                 moe={"experts": 4, "experts_per_token": 2, "expert_ffn_hidden": 256,
                      "first_dense_layers": 1})
plan = {"model": model,
        "cluster": cluster,
        "train": {"global_batch": 16, "seq_len": 64, "dtype": "fp32", "optimizer": "adam",
                  "learning_rate": 1e-3},
        "layout": {"dp": int(dp), "tp": int(tp), "pp": int(pp), "cp": int(extra.get("cp", 1)),
                   "ep": int(extra.get("ep", 1)), "micro_batch": 4,
                   "zero": int(zero), "recompute": "none",
                   "sequence_parallel": extra.get("sp") == "1",
                   "schedule": sched, "virtual_stages": int(extra.get("v", 1)), "offload": "none"}}
json.dump(plan, open(f"{work}/{name}.plan.json", "w"), indent=1)
PY
}
plan single 1 1 1 0 1f1b
plan dp2 2 1 1 0 1f1b
plan tp2 1 2 1 0 1f1b
plan pp2 1 1 2 0 1f1b
plan zero1 2 1 1 1 1f1b
plan zero2 2 1 1 2 1f1b
plan zero3 2 1 1 3 1f1b
plan pp2_interleaved 1 1 2 0 interleaved v=2
plan tp2_sp 1 2 1 0 1f1b sp=1
plan cp2 1 1 1 0 1f1b cp=2
plan moe_single 1 1 1 0 1f1b moe=1
plan ep2 2 1 1 0 1f1b moe=1 ep=2
LAYOUTS="single dp2 tp2 pp2 zero1 zero2 zero3 pp2_interleaved tp2_sp cp2 moe_single ep2"
for l in $LAYOUTS; do
  "$PARPLAN" run --plan "$WORK/$l.plan.json" --data "$DATA" --steps "$STEPS" --threads 1 \
    --eval-iters 1 --quiet --out "$WORK/$l.measured.json" >/dev/null
done
for l in $LAYOUTS; do
  echo "== $l"
  "$PARPLAN" compare --measured "$WORK/$l.measured.json"
done
