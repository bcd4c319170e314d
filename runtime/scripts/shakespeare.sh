#!/usr/bin/env bash
# Example run (not part of CI): a 2-layer character GPT on Tiny Shakespeare over 2 local ranks
# (DP=2, ZeRO-1, Gloo). Validation loss falls below 2.5 within ~400 steps (about 1-2 minutes on a
# 2-core machine), then a sample is generated from "ROMEO:".
#   runtime/scripts/shakespeare.sh [parplan binary] [work dir] [steps]
set -euo pipefail
PARPLAN=${1:-build/apps/parplan}
WORK=${2:-/tmp/parplan-shakespeare}
STEPS=${3:-800}
DATA=${PARPLAN_DATA:-$(dirname "$0")/../../../shared/data/tinyshakespeare/input.txt}
mkdir -p "$WORK"
cat > "$WORK/plan.json" <<'JSON'
{"model": {"name": "gpt-char-tiny", "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 4,
           "ffn_hidden": 256, "vocab": 65, "max_seq_len": 32, "tied_embeddings": true,
           "gated_mlp": false},
 "cluster": {"name": "cpu-host", "nodes": 1, "gpus_per_node": 2,
             "gpu": {"name": "cpu-core", "memory_GiB": 10, "memory_GBps": 8,
                     "peak_tflops": {"fp32": 0.05}},
             "intra_node": {"kind": "shm", "bandwidth_GBps": 0.5, "latency_us": 50}},
 "train": {"global_batch": 16, "seq_len": 32, "dtype": "fp32", "optimizer": "adam",
           "learning_rate": 3e-3},
 "layout": {"dp": 2, "tp": 1, "pp": 1, "cp": 1, "micro_batch": 8, "zero": 1,
            "recompute": "none", "sequence_parallel": false, "schedule": "1f1b",
            "virtual_stages": 1, "offload": "none"}}
JSON
"$PARPLAN" run --plan "$WORK/plan.json" --data "$DATA" --steps "$STEPS" --log-interval 50 \
  --eval-interval 200 --eval-iters 8 --sample-tokens 200 --prompt "ROMEO:" \
  --ckpt-dir "$WORK/ckpt" --ckpt-interval 200 --out "$WORK/measured.json"
python3 - "$WORK/measured.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("val loss by step:", [(e["step"], round(e["val_loss"], 3)) for e in m["evals"]])
assert m["val_loss"] < 2.5, f"val loss {m['val_loss']} did not fall below 2.5"
PY
