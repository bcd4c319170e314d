#!/usr/bin/python3
"""Runs parplan's exports of a fixed set of plans (tests/data/upstream/export-plans.json) through
the training frameworks' own parsers and validators, as a user launching the plan would:

  Megatron-LM  parse_args + validate_args + the TransformerConfig / GPTModelConfig built from the
               args (their __post_init__ validate again); the parameter count of the GPTModel
               those configs describe, against parplan's.
  torchtitan   ConfigManager().parse_args(argv) of the exported launch line (the recipe's config
               function, then tyro), the Trainer.Config validators, and the TOML export through
               the TOML loader of the release before the config refactor; parameter count of the
               model config torchtitan builds.
  DeepSpeed    DeepSpeedConfig(ds_config.json) (pydantic models, extra keys forbidden), then the
               engine started with it: deepspeed.initialize on CPU (gloo), the optimizer the
               config names built by the engine (DeepSpeedCPUAdam JIT-built for offload), one
               optimizer step; with pipeline parallelism the PipelineEngine over one process per
               stage and one train_batch (check_exports_pipe.py).
  Megatron-DeepSpeed  its own parse_args + validate_args + core_transformer_config_from_args on
               the exported launch line, the parameter count of its GPTModel, the optimizer its
               get_megatron_optimizer builds, and its ds_config.json as for DeepSpeed.
The set (tests/data/upstream/export-plans.json) holds per framework the plan as priced, re-planned
with the fix a refusal names, or a refusal expected (exit 2, the reason, "To fix:"); exit status 0
when every export is accepted and every refusal is as expected.

Usage (scripts/check_exports.sh wraps it):
  check_exports.py --parplan BUILD/apps/parplan --megatron DIR --torchtitan DIR
                   --torchtitan-toml DIR --deepspeed DIR --megatron-deepspeed DIR --deps DIR
                   [--plans NAME,...] [--frameworks NAME,...] [--md]
Each framework check runs in its own Debian python3 process (python3-torch 1.13) with stubs for
the modules that need a newer torch or a GPU (listed in STUBS, check_exports_common.py; never a flag definition or a
validation rule). Prints one line per export: accepted / the exact rejection / parameter counts.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from check_exports_models import megatron_deepspeed_params, megatron_params, plan_vocab  # noqa: E402
from check_exports_torch2 import cxx17, ds_version, keep_grad_accumulators, torch2_for_engine  # noqa: E402

from check_exports_common import PATCHED, STUBS, ensure, import_patched, install_stubs, launch_argv  # noqa: E402
from check_exports_torchtitan import torchtitan_toml_worker, torchtitan_worker  # noqa: E402


# --------------------------------------------------------------------------- Megatron-LM
def megatron_worker(src, script, workdir):
    argv, env, world = launch_argv(script, "pretrain_gpt.py", workdir)
    for k in ("CUDA_DEVICE_MAX_CONNECTIONS", "NVTE_FWD_LAYERNORM_SM_MARGIN"):
        if k in env:
            os.environ[k] = env[k]
    os.environ.update(WORLD_SIZE=str(world), RANK="0", LOCAL_RANK="0")
    sys.path.insert(0, str(src))
    Stub = install_stubs(STUBS["megatron"])
    import typing
    if not hasattr(typing, "override"):  # Python 3.12's; Debian 12 has 3.11
        typing.override = lambda f: f
    import torch

    # Version and device probes answered as the target cluster would (torch 2.x, Hopper).
    torch.__version__ = "2.8.0"
    torch.cuda.get_device_capability = lambda *a, **k: (9, 0)
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 8
    torch.cuda.get_device_name = lambda *a, **k: "NVIDIA H100 80GB HBM3"
    torch.cuda.current_device = lambda: 0
    import types
    props = types.SimpleNamespace(major=9, minor=0, name="NVIDIA H100 80GB HBM3",
                                  total_memory=80 * 2**30, multi_processor_count=132)
    torch.cuda.get_device_properties = lambda *a, **k: props
    if not hasattr(torch, "compile"):
        torch.compile = lambda f=None, **k: (f if f is not None else (lambda g: g))
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "uint16", "uint32", "uint64"):
        if not hasattr(torch, name):
            setattr(torch, name, torch.uint8)
    import torch.cuda.memory
    import torch.distributed as dist
    ensure(Stub, torch.cuda, "MemPool", "use_mem_pool")
    ensure(Stub, torch.cuda.memory, "CUDAPluggableAllocator", "MemPool")
    ensure(Stub, dist, "DeviceMesh")

    sys.argv = ["pretrain_gpt.py"] + argv
    import_patched(Stub, "megatron", ["megatron.training.arguments", "megatron.training.argument_utils"])
    from megatron.training import arguments as A
    args = A.parse_args(None, False)
    A.validate_args(args, {"tokenizer_type": "GPT2BPETokenizer"})
    from megatron.training.argument_utils import gpt_config_from_args
    cfg = gpt_config_from_args(args)
    return {"accepted": True, "params": megatron_params(args, cfg.transformer, cfg)}


# --------------------------------------------------------------------------- driver
def run(cmd, **k):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **k)
    except subprocess.TimeoutExpired as e:  # reported as a crash of that check, the run goes on
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {e.timeout} s")


def worker_main(kind, src, script, workdir):
    try:
        if kind == "megatron":
            out = megatron_worker(src, script, workdir)
        elif kind == "torchtitan":
            out = torchtitan_worker(src, script, workdir)
        elif kind == "torchtitan-toml":
            out = torchtitan_toml_worker(src, script, workdir)
        elif kind == "deepspeed":
            out = deepspeed_worker(src, script, workdir)
        elif kind == "deepspeed-engine":
            out = deepspeed_engine_worker(src, script, workdir)
        elif kind == "deepspeed-pipe":  # one pipeline stage (check_exports_pipe.py)
            from check_exports_pipe import stage_worker
            out = stage_worker(lambda: engine_setup(src))
        elif kind == "megatron-deepspeed":
            out = megatron_deepspeed_worker(src, script, workdir)
        else:
            raise SystemExit("unknown worker " + kind)
    except BaseException as e:  # the framework's exact rejection
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if str(src) in f.filename), "")
        msg = f"{type(e).__name__}: {e}".strip().replace("\n", " ")
        out = {"accepted": False, "rejection": msg[:400], "where": where}
        if os.environ.get("CHECK_EXPORTS_DEBUG"):
            traceback.print_exc()
    out["patched"] = sorted({f"{m}.{n}" if n != "*" else m for m, n in PATCHED})
    print("RESULT " + json.dumps(out))


def resolve(spec):
    if isinstance(spec, dict):
        return json.dumps(spec)
    return str(ROOT / spec) if "/" in spec else spec


FORMATS = [("megatron", "megatron", "megatron.sh"),
           ("torchtitan", "torchtitan", "torchtitan.sh"),
           ("torchtitan-toml", "torchtitan-toml", "plan.toml"),
           ("deepspeed", "deepspeed", "ds_config.json"),
           ("megatron-deepspeed", "megatron-deepspeed", "torchrun.sh")]


def variant(plan, kind):
    """What the set holds for one framework: the plan as priced, the plan re-planned with the fix
    a refusal names ("fix": layout fields), or a refusal expected ("refuse": words its reason must
    contain). The TOML export shares torchtitan's entry."""
    return plan.get("frameworks", {}).get("torchtitan" if kind == "torchtitan-toml" else kind, {})


def fix_text(fix):
    return "re-planned: " + ", ".join(f"{k}={v}" for k, v in fix.items()) if fix else "as priced"


def predict(parplan, p, layout, out):
    return run([parplan, "predict", "--model", resolve(p["model"]), "--cluster", resolve(p["cluster"]),
                "--train", resolve(p["train"]), "--layout", json.dumps(layout), "--allow-oom",
                "--json", "--out", str(out)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=4, metavar=("KIND", "SRC", "FILE", "WORKDIR"), help=argparse.SUPPRESS)
    ap.add_argument("--parplan", default=str(ROOT / "build/apps/parplan"))
    ap.add_argument("--megatron")
    ap.add_argument("--torchtitan")
    ap.add_argument("--torchtitan-toml")
    ap.add_argument("--deepspeed")
    ap.add_argument("--megatron-deepspeed")
    ap.add_argument("--deps", help="folder put on PYTHONPATH with the packages Debian 12 lacks (tyro, typeguard 4, docstring_parser, pydantic 2)")
    ap.add_argument("--plans", help="comma-separated plan names (default: all)")
    ap.add_argument("--frameworks", help="comma-separated targets (default: every one whose source is given)")
    ap.add_argument("--md", action="store_true", help="print Markdown tables")
    a = ap.parse_args()
    if a.worker:
        kind, src, f, wd = a.worker
        worker_main(kind, pathlib.Path(src), pathlib.Path(f), pathlib.Path(wd))
        return
    plans = json.loads((ROOT / "tests/data/upstream/export-plans.json").read_text())["plans"]
    if a.plans:
        plans = [p for p in plans if p["name"] in a.plans.split(",")]
    srcs = {"megatron": a.megatron, "torchtitan": a.torchtitan,
            "torchtitan-toml": a.torchtitan_toml, "deepspeed": a.deepspeed,
            "megatron-deepspeed": a.megatron_deepspeed}
    if a.frameworks:
        srcs = {k: v for k, v in srcs.items() if k in a.frameworks.split(",")}
    env = dict(os.environ)
    if a.deps:  # a folder holding the pure-Python packages the parsers need (tyro, pydantic 2, ...)
        env["PYTHONPATH"] = ":".join([a.deps, env.get("PYTHONPATH", "")]).rstrip(":")
    if a.deepspeed:  # Megatron-DeepSpeed imports DeepSpeed
        env["CHECK_EXPORTS_DEEPSPEED"] = a.deepspeed
    class Progress(list):  # every row also on stderr as it comes (a full run takes a while)
        def append(self, r):
            print(" | ".join(str(x) for x in r), file=sys.stderr, flush=True)
            super().append(r)
    rows, refusals = Progress(), Progress()
    patched = {}
    for p in plans:
        wd = pathlib.Path(tempfile.mkdtemp(prefix=f"check_exports_{p['name']}_"))
        base = predict(a.parplan, p, p["layout"], wd / "plan.json")
        if base.returncode != 0:
            rows.append((p["name"], "parplan", "-", "predict failed", base.stderr.strip()[:300], None, None))
            continue
        for kind, fmt, main_file in FORMATS:
            if not srcs.get(kind):
                continue
            v = variant(p, kind)
            out = wd / kind
            out.mkdir()
            fix = v.get("fix", {})
            plan_file, pr = wd / "plan.json", base
            if fix:
                # The plan as priced must be refused, its "To fix" naming the change the set makes.
                ex = run([a.parplan, "export", "--plan", str(wd / "plan.json"), "--to", fmt,
                          "--out", str(out / ("as-priced-" + main_file))])
                err = next((l for l in ex.stderr.splitlines() if l.startswith("error:")), "")
                if ex.returncode != 2 or "To fix:" not in err or not any(
                        f"{k}={v}" in err.split("To fix:")[1] for k, v in fix.items()):
                    refusals.append((p["name"], kind, "the fix " + fix_text(fix)[12:],
                                     f"NOT as expected (exit {ex.returncode})", err[:400] or "accepted as priced"))
                plan_file = wd / f"plan-{kind}.json"
                pr = predict(a.parplan, p, {**p["layout"], **fix}, plan_file)
                if pr.returncode != 0:
                    rows.append((p["name"], kind, fix_text(fix), "predict failed", pr.stderr.strip()[:300], None, None))
                    continue
            if "refuse" in v:  # a feature the framework cannot run: the export must say so
                ex = run([a.parplan, "export", "--plan", str(plan_file), "--to", fmt, "--out", str(out / main_file)])
                err = next((l for l in ex.stderr.splitlines() if l.startswith("error:")), ex.stderr.strip())
                ok = (ex.returncode == 2 and "cannot export to" in err and v["refuse"] in err
                      and "To fix:" in err)
                refusals.append((p["name"], kind, v["refuse"] + (f" ({fix_text(fix)})" if fix else ""),
                                 "refused (exit 2)" if ok else f"NOT as expected (exit {ex.returncode})", err[:400]))
                continue
            priced = json.loads(pr.stdout)["parameters"]["total"]
            ex = run([a.parplan, "export", "--plan", str(plan_file), "--to", fmt, "--out", str(out / main_file)])
            if ex.returncode != 0:
                err = [l for l in ex.stderr.splitlines() if l.startswith("error:")] or ex.stderr.strip().splitlines() or ["?"]
                rows.append((p["name"], kind, fix_text(fix), "refused by parplan", err[0][:300], None, priced))
                continue
            files = {f.name: f for f in out.iterdir()} if out.is_dir() else {}
            target = files.get(main_file) or next(iter(files.values()), None)
            w = run([sys.executable, __file__, "--worker", kind, srcs[kind], str(target), str(out)],
                    env={**env, "CHECK_EXPORTS_PLAN": str(plan_file)}, cwd=str(out), timeout=600)
            line = next((l for l in w.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                rows.append((p["name"], kind, fix_text(fix), "crashed",
                             (w.stderr.strip().splitlines() or ["?"])[-1][:300], None, priced))
                continue
            r = json.loads(line[7:])
            patched.setdefault(kind, set()).update(r.get("patched", []))
            if r["accepted"]:
                note = r.get("note", "")
                if isinstance(r.get("params"), str):
                    note += "; params " + r["params"]
                rows.append((p["name"], kind, fix_text(fix), "accepted", note, r.get("params"), priced))
            else:
                rows.append((p["name"], kind, fix_text(fix), "rejected", f"{r['rejection']} [{r['where']}]", None, priced))
    print_rows(rows, refusals, a.md)
    print()
    for kind, names in sorted(patched.items()):
        base = kind.replace("-toml", "")
        print(f"{kind}: modules stubbed: {', '.join(STUBS[base])}")
        print(f"{kind}: torch names stubbed because an import needed them: {', '.join(sorted(names)) or 'none'}")
    bad = [r for r in rows if r[3] != "accepted"] + [r for r in refusals if not r[3].startswith("refused")]
    sys.exit(1 if bad else 0)


def print_rows(rows, refusals, md):
    kinds = sorted({r[1] for r in rows} | {r[1] for r in refusals})
    summary = []
    for k in kinds:
        acc = sum(1 for r in rows if r[1] == k and r[3] == "accepted")
        other = sum(1 for r in rows if r[1] == k and r[3] != "accepted")
        ref = sum(1 for r in refusals if r[1] == k and r[3].startswith("refused"))
        bad = sum(1 for r in refusals if r[1] == k and not r[3].startswith("refused"))
        eq = sum(1 for r in rows if r[1] == k and isinstance(r[5], int) and r[5] == r[6])
        diff = sum(1 for r in rows if r[1] == k and isinstance(r[5], int) and r[5] != r[6])
        summary.append((k, acc, other, ref, bad, eq, diff))
    if md:
        print("| framework | accepted | not accepted | refused with reason (as expected) | refusal not as expected | params equal | params differ |")
        print("|---|---|---|---|---|---|---|")
        for s in summary:
            print("| " + " | ".join(str(x) for x in s) + " |")
        print()
        print("| plan | framework | layout | result | built params | parplan params | detail |")
        print("|---|---|---|---|---|---|---|")
    else:
        for s in summary:
            print(f"{s[0]:20s} accepted {s[1]} not-accepted {s[2]} refused-as-expected {s[3]} "
                  f"refusal-not-as-expected {s[4]} params-equal {s[5]} params-differ {s[6]}")
    for name, kind, lay, status, detail, built, priced in rows:
        b = f"{built:,}" if isinstance(built, int) else "-"
        pr = f"{priced:,}" if isinstance(priced, int) else "-"
        same = "" if not isinstance(built, int) or not isinstance(priced, int) else (
            " (equal)" if built == priced else f" (diff {built - priced:+,})")
        if md:
            print(f"| {name} | {kind} | {lay} | {status} | {b}{same} | {pr} | {detail} |")
        else:
            print(f"{name:24s} {kind:18s} {status:10s} built {b}{same} parplan {pr} [{lay}] {detail}")
    if md:
        print()
        print("| plan | framework | reason expected | result | parplan's message |")
        print("|---|---|---|---|---|")
    for name, kind, reason, status, err in refusals:
        if md:
            print(f"| {name} | {kind} | {reason} | {status} | {err} |")
        else:
            print(f"{name:24s} {kind:18s} {status} [{reason}] {err}")


def deepspeed_worker(src, f, workdir, lay=None):
    """DeepSpeedConfig(ds_config.json) with deepspeed.comm answering rank 0 and the plan's world
    size (and an mpu answering its dp where the notes say the script passes one), then the engine's
    own optimizer rule: with offload_optimizer the config's optimizer must come out as
    DeepSpeedCPUAdam (a client torch optimizer raises ZeRORuntimeException at engine start)."""
    sys.path.insert(0, str(src))
    Stub = install_stubs(STUBS["deepspeed"])
    import torch
    import torch.distributed
    import_patched(Stub, "deepspeed", ["deepspeed", "deepspeed.runtime.config", "deepspeed.runtime.engine"])
    cfg = json.loads(pathlib.Path(f).read_text())
    if lay is None:  # plain DeepSpeed: the sidecar has the layout
        lay = json.loads((pathlib.Path(workdir) / "ds_config.parplan.json").read_text())["layout"]
    tp, pp, cp, dp = lay.get("tp", 1), lay.get("pp", 1), lay.get("cp", 1), lay["dp"]
    world = tp * pp * cp * dp
    import deepspeed.comm as dcomm
    dcomm.get_rank = lambda *a, **k: 0
    dcomm.get_world_size = lambda *a, **k: world
    dcomm.is_initialized = lambda: True
    import deepspeed.runtime.config as C
    C.dist.get_rank = dcomm.get_rank
    C.dist.get_world_size = dcomm.get_world_size
    mpu = None
    if tp > 1 or pp > 1 or lay.get("megatron_mpu"):
        class Mpu:  # Megatron's mpu as the notes ask the script to pass
            def get_data_parallel_world_size(self):
                return dp
            def get_model_parallel_world_size(self):
                return tp
            def get_sequence_parallel_world_size(self):
                return cp
        mpu = Mpu()
    config = C.DeepSpeedConfig(cfg, mpu=mpu)
    note = f"batch {config.train_batch_size} = {config.train_micro_batch_size_per_gpu} x {config.gradient_accumulation_steps} x {config.world_size}"
    offload = config.zero_config.offload_optimizer is not None and config.zero_config.offload_optimizer.device != "none"
    if offload and lay.get("megatron_mpu") and not lay["cpu_optimizer"]:
        raise RuntimeError("offload_optimizer without --cpu-optimizer: Megatron-DeepSpeed passes a GPU Adam, "
                           "refused at engine start (ZeRORuntimeException)")
    if pp > 1:  # DeepSpeed's PipelineEngine: a PipelineModule over pp processes (check_exports_pipe.py)
        from check_exports_pipe import launch, pipe_spec
        plan = json.loads(pathlib.Path(os.environ["CHECK_EXPORTS_PLAN"]).read_text())
        side = pathlib.Path(workdir) / "ds_config.parplan.json"
        notes = json.loads(side.read_text())["script_must"] if side.exists() else []
        spec = pipe_spec(plan, cfg, notes, {**lay, "pp": pp, "dp": dp}, lay.get("megatron_ds_src"))
        spec.update(ckpt=lay.get("ckpt", {}), client=lay.get("client_optimizer"))
        r = launch([sys.executable, __file__, "--worker", "deepspeed-pipe", str(src), str(f), str(workdir)],
                   {**spec, "config": str(f)}, workdir, timeout=900)
        if not r["accepted"]:
            raise RuntimeError(f"pipeline engine start: {r['rejection']} [{r['where']}]")
        PATCHED.extend(tuple(x.rsplit(".", 1)) if "." in x else (x, "*") for x in r.get("patched", []))
        return {"accepted": True, "note": note + "; " + r["note"]}
    client = lay.get("client_optimizer")  # Megatron-DeepSpeed passes the optimizer it builds
    e = run([sys.executable, __file__, "--worker", "deepspeed-engine", str(src), str(f), str(workdir)],
            env={**os.environ, "CHECK_EXPORTS_ENGINE": json.dumps({"dp": dp, "tp": tp, "sp": cp, "client": client})},
            timeout=1800)
    line = next((l for l in e.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError("engine start crashed: " + ((e.stderr.strip().splitlines() or ["?"])[-1])[:300])
    r = json.loads(line[7:])
    if not r["accepted"]:
        raise RuntimeError(f"engine start: {r['rejection']} [{r['where']}]")
    PATCHED.extend(tuple(x.rsplit(".", 1)) if "." in x else (x, "*") for x in r.get("patched", []))
    built = r["note"]
    if offload and "basic DeepSpeedCPUAdam" not in built:
        raise RuntimeError(f"engine started with {built} for offload, not DeepSpeedCPUAdam")
    return {"accepted": True, "note": note + "; engine " + built}


def engine_setup(src):
    """What starting DeepSpeed's engine needs here (the process's RANK / WORLD_SIZE / MASTER_* set):
    the stubs, the torch-2 shims (check_exports_torch2.py), C++17 for the JIT-built kernels, and
    deepspeed.comm initialised over gloo. Returns (deepspeed, torch)."""
    sys.path.insert(0, str(src))
    install_stubs(STUBS["deepspeed"])
    ds_version(src)
    import importlib.util
    import torch
    torch2_for_engine(torch)
    from deepspeed.ops.op_builder import CPUAdamBuilder
    cxx17(type(CPUAdamBuilder()))
    import deepspeed
    import deepspeed.runtime.engine as E
    keep_grad_accumulators()
    # The engine's forward enters deepspeed.compile's Z3 fallback context (its package needs
    # torch >= 2.4 and is stubbed): the module itself is loaded from its file.
    zs = importlib.util.spec_from_file_location("z3_eager_fallback", str(src / "deepspeed/compile/z3_eager_fallback.py"))
    z3 = importlib.util.module_from_spec(zs)
    zs.loader.exec_module(z3)
    E.deepcompile_z3_forward_context = z3.deepcompile_z3_forward_context
    deepspeed.init_distributed(dist_backend="gloo")
    return deepspeed, torch


def deepspeed_engine_worker(src, f, workdir):
    """deepspeed.initialize(model, config=ds_config.json, mpu) in one process (gloo, DeepSpeed's CPU
    accelerator), the way the training script starts the engine: a small model, the exported config
    unchanged, an mpu answering the plan's dp/tp/sp for the batch arithmetic and a one-rank group
    for the collectives; the CPU Adam kernel JIT-built from csrc/adam (TORCH_EXTENSIONS_DIR). Reports
    the engine, the ZeRO optimizer and the optimizer it wraps."""
    import socket
    spec = json.loads(os.environ["CHECK_EXPORTS_ENGINE"])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1",
                      LOCAL_RANK="0", LOCAL_SIZE="1", DS_ACCELERATOR="cpu")
    deepspeed, torch = engine_setup(src)
    import deepspeed.comm as dist
    dp, tp, sp = spec["dp"], spec["tp"], spec["sp"]
    world = dist.get_world_group()

    class Mpu:
        def __getattr__(self, name):
            n = name.replace("get_", "").replace("tensor_model", "model")
            size = {"data_parallel": dp, "model_parallel": tp, "sequence_parallel": sp,
                    "sequence_data_parallel": sp * dp, "pipeline_model_parallel": 1}
            for k, v in size.items():
                if n == k + "_world_size":
                    return lambda: v
                if n == k + "_rank":
                    return lambda: 0
                if n == k + "_group":
                    return lambda: world
            raise AttributeError(name)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
    cfg = json.loads(pathlib.Path(f).read_text())
    opt = None
    if spec.get("client") == "DeepSpeedCPUAdam":
        from deepspeed.ops.adam import DeepSpeedCPUAdam
        opt = DeepSpeedCPUAdam(model.parameters(), lr=1e-4)
    elif spec.get("client"):
        opt = getattr(torch.optim, spec["client"])(model.parameters(), lr=1e-4)
    engine, optimizer, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=cfg, mpu=Mpu(),
                                                   model_parameters=None if opt else model.parameters())
    inner = getattr(engine, "basic_optimizer", None) or getattr(optimizer, "optimizer", None)
    note = (f"{type(engine).__name__}, {type(optimizer).__name__} around "
            f"basic {type(inner).__name__}" + (f" (client {spec['client']})" if spec.get("client") else ""))
    from check_exports_pipe import one_step
    return {"accepted": True, "note": note + one_step(engine, torch)}


def checkpointing_as_initialized(Stub, args, workdir, lay):
    """Megatron-DeepSpeed's own setup_deepspeed_random_and_activation_checkpointing(args), run where
    its _initialize_distributed runs it (--deepspeed with --deepspeed-activation-checkpointing), over
    an mpu answering rank 0 of the plan's groups: DeepSpeed's checkpointing.configure reads
    ds_config.json, then puts the parsed flags (--partition-activations, ...) over it. What the
    config's activation_checkpointing asks for must still hold afterwards."""
    if not (args.deepspeed and args.deepspeed_activation_checkpointing):
        return ""
    import_patched(Stub, "megatron", ["megatron.initialize"])
    import megatron.initialize as I
    from deepspeed.runtime.activation_checkpointing import checkpointing as ck
    import deepspeed.runtime.config as C
    C.hjson = json  # configure reads the config from its path with hjson.load (stubbed): json's subset
    tp, dp, cp = lay["tp"], lay["dp"], lay["cp"]
    class Mpu:  # megatron.core.mpu as initialize.py holds it after _initialize_distributed
        get_tensor_model_parallel_rank = staticmethod(lambda: 0)
        get_tensor_model_parallel_world_size = staticmethod(lambda: tp)
        get_tensor_model_parallel_group = staticmethod(lambda: None)
        get_model_parallel_world_size = staticmethod(lambda: tp)
        get_data_parallel_world_size = staticmethod(lambda: dp)
        get_sequence_parallel_world_size = staticmethod(lambda: cp)
    I.mpu = Mpu()
    I.setup_deepspeed_random_and_activation_checkpointing(args)
    want = json.loads((pathlib.Path(workdir) / args.deepspeed_config).read_text()).get("activation_checkpointing", {})
    got = {"partition_activations": ck.PARTITION_ACTIVATIONS, "contiguous_memory_optimization": ck.CONTIGUOUS_CHECKPOINTING,
           "cpu_checkpointing": ck.CPU_CHECKPOINT, "synchronize_checkpoint_boundary": ck.SYNCHRONIZE}
    lost = [f"{k} {want[k]} became {v}" for k, v in got.items() if k in want and bool(want[k]) != bool(v)]
    if lost:
        raise RuntimeError("the flags override ds_config.json's activation_checkpointing in "
                           "deepspeed.checkpointing.configure (megatron/initialize.py): " + ", ".join(lost))
    return f"; checkpointing configured: partition_activations {ck.PARTITION_ACTIVATIONS}"


def megatron_deepspeed_worker(src, script, workdir):
    """Megatron-DeepSpeed's own parse_args(None, False) (its flags plus deepspeed.add_config_arguments)
    and validate_args(args, {"tokenizer_type": "GPT2BPETokenizer"}) on the exported launch line, as
    pretrain_gpt.py's initialize_megatron runs them, then core_transformer_config_from_args (the
    TransformerConfig its GPTModel is built from); the parameters of that GPTModel counted from the
    args (megatron/model/transformer.py, gpt_model.py); then the ds_config.json it passes through
    DeepSpeed's classes, and with --cpu-optimizer the optimizer its get_megatron_optimizer builds."""
    argv, env, world = launch_argv(script, "pretrain_gpt.py", workdir)
    os.environ.update(WORLD_SIZE=str(world), RANK="0", LOCAL_RANK="0")
    ds_src = os.environ["CHECK_EXPORTS_DEEPSPEED"]
    sys.path[:0] = [str(src), ds_src]
    Stub = install_stubs(STUBS["megatron-deepspeed"] + STUBS["deepspeed"])
    import torch
    sys.argv = ["pretrain_gpt.py"] + argv
    import_patched(Stub, "megatron", ["megatron.arguments"])
    ds_version(ds_src)
    from megatron import arguments as A
    args = A.parse_args(None, False)
    A.validate_args(args, {"tokenizer_type": "GPT2BPETokenizer"})
    cfg = A.core_transformer_config_from_args(args)
    from megatron.tokenizer.tokenizer import _vocab_size_with_padding
    plan = json.loads(pathlib.Path(os.environ["CHECK_EXPORTS_PLAN"]).read_text())
    vocab = _vocab_size_with_padding(plan_vocab(plan), args)  # the tokenizer's vocabulary, padded
    params = megatron_deepspeed_params(args, cfg, vocab)
    # training.py builds the optimizer with get_megatron_optimizer (with --deepspeed: returned
    # unwrapped) and passes it and --deepspeed_config to deepspeed.initialize with Megatron's mpu.
    from megatron.global_vars import set_args
    from megatron.optimizer import get_megatron_optimizer
    from deepspeed.ops.op_builder import CPUAdamBuilder
    cxx17(type(CPUAdamBuilder()))
    set_args(args)
    client = type(get_megatron_optimizer([torch.nn.Linear(8, 8)])).__name__
    lay = {"tp": args.tensor_model_parallel_size, "pp": args.pipeline_model_parallel_size,
           "cp": args.ds_sequence_parallel_size, "dp": args.data_parallel_size, "megatron_mpu": True,
           "cpu_optimizer": args.cpu_optimizer, "client_optimizer": client, "megatron_ds_src": str(src),
           # GPTModelPipe's activation_checkpoint_interval (megatron/model/gpt_model.py)
           "checkpoint_interval": args.checkpoint_num_layers if args.checkpoint_activations else
           args.recompute_num_layers if (args.recompute_granularity == "full" and args.recompute_method == "uniform") else 0,
           "deepspeed_activation_checkpointing": bool(args.deepspeed and args.deepspeed_activation_checkpointing),
           # what its initialize.py passes to deepspeed.checkpointing.configure beside the config
           "ckpt": {"partition_activations": args.partition_activations,
                    "contiguous_checkpointing": args.contigious_checkpointing, "checkpoint_in_cpu": args.checkpoint_in_cpu,
                    "synchronize": args.synchronize_each_layer, "profile": args.profile_backward,
                    "num_checkpoints": -(-args.num_layers // args.checkpoint_num_layers)}}
    out = deepspeed_worker(ds_src, pathlib.Path(workdir) / args.deepspeed_config, workdir, lay=lay)
    out["note"] += checkpointing_as_initialized(Stub, args, workdir, lay)
    out["params"] = params
    out["note"] = (f"tp {args.tensor_model_parallel_size} pp {args.pipeline_model_parallel_size} "
                   f"sp {args.ds_sequence_parallel_size} dp {args.data_parallel_size}; "
                   f"recompute {cfg.recompute_granularity}; padded vocab {vocab}; " + out["note"])
    return out


if __name__ == "__main__":
    main()
