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
  DeepSpeed    DeepSpeedConfig(ds_config.json) (pydantic models, extra keys forbidden) and the
               optimizer the export names built by the engine's own rule (DeepSpeedCPUAdam for
               offload).

Usage (scripts/check_exports.sh wraps it):
  check_exports.py --parplan BUILD/apps/parplan --megatron DIR --torchtitan DIR
                   --torchtitan-toml DIR --deepspeed DIR --deps DIR [--plans NAME,...] [--md]
Each framework check runs in its own Debian python3 process (python3-torch 1.13) with stubs for
the modules that need a newer torch or a GPU (listed in STUBS below; never a flag definition or a
validation rule). Prints one line per export: accepted / the exact rejection / parameter counts.
"""
import argparse
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Modules replaced by permissive stubs, per framework: they need torch >= 2 or a GPU library and
# only their import is in the way of parsing and validating.
STUBS = {
    "megatron": [
        "torch.distributed.checkpoint", "torch.distributed._shard", "torch.distributed.tensor",
        "torch.distributed.device_mesh", "torch.distributed._tensor",
        "torch.distributed._symmetric_memory", "torch.distributed.fsdp", "torch._dynamo",
        "torch.distributed._composable", "torch.distributed.nn", "torch.nn.attention",
        "torch._subclasses", "torch.distributed.distributed_c10d_ext",
        "triton", "nvidia_resiliency_ext", "transformer_engine", "apex", "flash_attn",
        "einops", "numpy.dtypes", "tensorstore", "zarr", "wandb", "onelogger", "nvtx", "modelopt",
        "torch.utils._pytree_ext", "flashinfer", "deep_ep",
    ],
    "torchtitan": [
        "torch.distributed.pipelining", "torch.distributed.tensor", "torch.distributed.device_mesh",
        "torch.distributed.checkpoint", "torch.distributed.fsdp", "torch.distributed._composable",
        "torch.distributed._functional_collectives", "torch.distributed._symmetric_memory",
        "torch.distributed.elastic", "torch._functorch", "torch.nn.attention", "torch._inductor",
        "torch.compiler", "torch._dynamo", "torch._higher_order_ops", "torch.utils.checkpoint_ext",
        "torch.distributed._tensor", "torch.distributed.algorithms._checkpoint",
        "grain", "datasets", "tokenizers", "torchdata", "triton", "torchao", "spmd_types", "safetensors",
        "tensorboard", "wandb", "einops", "PIL", "huggingface_hub", "transformers",
        "torch.utils.tensorboard", "torch.distributed.fsdp._fully_shard",
    ],
    "deepspeed": ["deepspeed.compile", "hjson", "einops", "msgpack", "torch._dynamo", "torch.distributed.elastic_ext",
                  "triton", "torch._inductor", "torch.compiler"],
}


# --------------------------------------------------------------------------- stubs
def install_stubs(prefixes):
    import importlib.abc
    import importlib.machinery
    import types

    import abc

    class Anything(abc.ABCMeta):
        """A class usable as anything: called, subclassed, indexed, iterated, as a decorator."""

        def __getattr__(cls, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            return Anything(name, (Stub,), {})

        def __call__(cls, *a, **k):
            if len(a) == 1 and callable(a[0]) and not k:
                return a[0]  # used as a decorator
            return super().__call__(*a, **k)

        def __getitem__(cls, k):
            return cls

        def __iter__(cls):
            return iter(())

        def __or__(cls, other):
            return cls

        __ror__ = __or__

        def __bool__(cls):
            return False

    class Stub(metaclass=Anything):
        def __init__(self, *a, **k):
            pass

        def __getattr__(self, name):
            return Anything(name, (Stub,), {})

        def __call__(self, *a, **k):
            return Stub()

        def __iter__(self):
            return iter(())

        def __bool__(self):
            return False

    class StubModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            v = Anything(name, (Stub,), {})
            setattr(self, name, v)
            return v

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if any(name == p or name.startswith(p + ".") for p in STUBBED):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            m = StubModule(spec.name)
            m.__path__ = []
            m.__version__ = "99.0"
            return m

        def exec_module(self, module):
            pass

    STUBBED.extend(prefixes)
    for p in prefixes:
        sys.modules.pop(p, None)
    sys.meta_path.insert(0, Finder())
    return Stub


STUBBED = []  # module prefixes served by stubs (STUBS, plus torch modules found missing)


def ensure(Stub, module, *names):
    """Attributes a newer torch has, as stubs (only where missing)."""
    for n in names:
        if not hasattr(module, n):
            setattr(module, n, type(n, (Stub,), {}))


PATCHED = []  # (module, attribute) stubbed because an import needed it


def import_patched(Stub, package, modules, tries=80):
    """Imports `modules`; where torch 1.13 lacks a name one of them imports (ImportError 'cannot
    import name X from torch...' or AttributeError "module 'torch...' has no attribute X"), adds
    that name as a stub and retries. Only torch's own modules are patched, never the framework's."""
    import importlib
    import re
    for _ in range(tries):
        try:
            for m in modules:
                importlib.import_module(m)
            return
        except (ImportError, AttributeError) as e:
            text = str(e)
            mm = re.search(r"No module named '(torch\.[\w.]+)'", text)
            if mm:  # a torch module newer than 1.13: served by the stub finder
                STUBBED.append(mm.group(1))
                PATCHED.append((mm.group(1), "*"))
                for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                    del sys.modules[k]
                continue
            m1 = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", text)
            m2 = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", text)
            if m1:
                name, mod = m1.group(1), m1.group(2)
            elif m2:
                mod, name = m2.group(1), m2.group(2)
            else:
                raise
            if not mod.startswith("torch") or (mod, name) in PATCHED:
                raise
            importlib.import_module(mod)
            setattr(sys.modules[mod], name, type(name, (Stub,), {}))
            PATCHED.append((mod, name))
            for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                del sys.modules[k]
    raise RuntimeError("too many missing torch names")


# --------------------------------------------------------------------------- launch lines
def launch_argv(script, program, workdir):
    """The argv after `program` and the environment, as the exported script would run it (the
    launcher replaced by a printer; placeholders set to dummies)."""
    bindir = pathlib.Path(workdir) / "bin"
    bindir.mkdir(exist_ok=True)
    printer = bindir / "torchrun"
    printer.write_text("#!/usr/bin/python3\nimport json, os, sys\n"
                       "print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))\n")
    printer.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", MASTER_ADDR="127.0.0.1",
               DATA_PATH="/data/corpus_text_document", TOKENIZER="/tokenizer",
               CHECKPOINT_DIR="/ckpt", TRAIN_ITERS="1000", HF_ASSETS="/assets",
               DATASET_PATH="/dataset", TRAIN_STEPS="1000")
    out = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True,
                         text=True, check=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    argv = j["argv"]
    nnodes = int(argv[argv.index("--nnodes") + 1])
    nproc = int(argv[argv.index("--nproc-per-node") + 1])
    at = next(i for i, a in enumerate(argv) if a.endswith(program) or a == program)
    rest = argv[at + 1:]
    if program == "torchtitan.train":
        rest = argv[at + 1:]
    return rest, j["env"], nnodes * nproc


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


def megatron_params(args, c, model_cfg):
    """Parameters of the GPTModel the validated configs describe (megatron/core/models/gpt and
    transformer/*: the layer specs of the TE/local GPT layer)."""
    h = c.hidden_size
    vocab = args.padded_vocab_size
    L = c.num_layers
    rms = c.normalization == "RMSNorm"
    norm = h if rms else 2 * h
    bias = c.add_bias_linear
    heads, groups = c.num_attention_heads, c.num_query_groups or c.num_attention_heads
    kv = c.kv_channels
    if getattr(c, "multi_latent_attention", False):
        qk = c.qk_head_dim + c.qk_pos_emb_head_dim
        if c.q_lora_rank:
            q = h * c.q_lora_rank + c.q_lora_rank * heads * qk + (c.q_lora_rank if c.qk_layernorm else 0)
        else:
            q = h * heads * qk
        kvp = h * (c.kv_lora_rank + c.qk_pos_emb_head_dim) + c.kv_lora_rank * heads * (c.qk_head_dim + c.v_head_dim)
        kvp += c.kv_lora_rank if c.qk_layernorm else 0
        attn = q + kvp + heads * c.v_head_dim * h + norm
    else:
        qkv_out = (heads + 2 * groups) * kv
        attn = h * qkv_out + heads * kv * h + norm
        if bias or c.add_qkv_bias:
            attn += qkv_out
        if bias:
            attn += h
        if c.qk_layernorm:
            attn += 2 * kv * (1 if rms else 2)
    gated = c.gated_linear_unit
    def mlp(f):
        return h * f * (2 if gated else 1) + f * h + ((f * (2 if gated else 1) + h) if bias else 0)
    dense = mlp(c.ffn_hidden_size) + norm
    moe_pattern = None
    if c.num_moe_experts:
        freq = c.moe_layer_freq
        moe_pattern = freq if isinstance(freq, list) else [1 if i % freq == 0 else 0 for i in range(L)]
        e = c.num_moe_experts
        moe = e * mlp(c.moe_ffn_hidden_size) + h * e + norm
        if c.moe_shared_expert_intermediate_size:
            moe += mlp(c.moe_shared_expert_intermediate_size)
            if c.moe_shared_expert_gate:
                moe += h
    layers = sum(attn + (moe if moe_pattern and moe_pattern[i] else dense) for i in range(L))
    total = layers + norm  # final norm
    total += vocab * h  # embedding
    if args.position_embedding_type == "learned_absolute":
        total += args.max_position_embeddings * h
    if args.untie_embeddings_and_output_weights:
        total += vocab * h
    mtp = c.mtp_num_layers or 0
    if mtp:
        # Each MTP module: enorm + hnorm, eh_proj [2h -> h], one transformer layer (MoE like the
        # last layer), final norm; the embedding and output layer are shared.
        last = moe if moe_pattern and moe_pattern[-1] else dense
        total += mtp * (2 * norm + 2 * h * h + attn + last + norm)
    return int(total)


# --------------------------------------------------------------------------- driver
def run(cmd, **k):
    return subprocess.run(cmd, capture_output=True, text=True, **k)


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
        elif kind == "megatron-deepspeed":  # its ds_config.json through DeepSpeed's classes
            out = deepspeed_worker(src, pathlib.Path(workdir) / "ds_config.json", workdir)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=4, metavar=("KIND", "SRC", "FILE", "WORKDIR"), help=argparse.SUPPRESS)
    ap.add_argument("--parplan", default=str(ROOT / "build/apps/parplan"))
    ap.add_argument("--megatron")
    ap.add_argument("--torchtitan")
    ap.add_argument("--torchtitan-toml")
    ap.add_argument("--deepspeed")
    ap.add_argument("--deps", help="folder put on PYTHONPATH with the packages Debian 12 lacks (tyro, typeguard 4, docstring_parser, pydantic 2)")
    ap.add_argument("--plans", help="comma-separated plan names (default: all)")
    ap.add_argument("--md", action="store_true", help="print a Markdown table")
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
            "megatron-deepspeed": a.deepspeed}
    env = dict(os.environ)
    if a.deps:  # a folder holding the pure-Python packages the parsers need (tyro, pydantic 2, ...)
        env["PYTHONPATH"] = ":".join([a.deps, env.get("PYTHONPATH", "")]).rstrip(":")
    rows = []
    patched = {}
    for p in plans:
        wd = pathlib.Path(tempfile.mkdtemp(prefix=f"check_exports_{p['name']}_"))
        pred = run([a.parplan, "predict", "--model", resolve(p["model"]), "--cluster", resolve(p["cluster"]),
                    "--train", resolve(p["train"]), "--layout", json.dumps(p["layout"]), "--allow-oom",
                    "--json", "--out", str(wd / "plan.json")])
        if pred.returncode != 0:
            rows.append((p["name"], "parplan", "predict failed", pred.stderr.strip()[:300], None, None))
            continue
        priced = json.loads(pred.stdout)["parameters"]["total"]
        for kind, fmt, main_file in FORMATS:
            if not srcs.get(kind):
                continue
            out = wd / kind
            out.mkdir()
            ex = run([a.parplan, "export", "--plan", str(wd / "plan.json"), "--to", fmt, "--out", str(out / main_file)])
            if ex.returncode != 0:
                err = [l for l in ex.stderr.splitlines() if l.startswith("error:")] or ex.stderr.strip().splitlines() or ["?"]
                rows.append((p["name"], kind, "refused by parplan", err[0][:300], None, priced))
                continue
            files = {f.name: f for f in out.iterdir()} if out.is_dir() else {}
            target = files.get(main_file) or next(iter(files.values()), None)
            w = run([sys.executable, __file__, "--worker", kind, srcs[kind], str(target), str(out)],
                    env=env, cwd=str(out), timeout=600)
            line = next((l for l in w.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                rows.append((p["name"], kind, "crashed", (w.stderr.strip().splitlines() or ["?"])[-1][:300], None, priced))
                continue
            r = json.loads(line[7:])
            patched.setdefault(kind, set()).update(r.get("patched", []))
            if r["accepted"]:
                note = r.get("note", "")
                if isinstance(r.get("params"), str):
                    note += "; params " + r["params"]
                rows.append((p["name"], kind, "accepted", note, r.get("params"), priced))
            else:
                rows.append((p["name"], kind, "rejected", f"{r['rejection']} [{r['where']}]", None, priced))
    print_rows(rows, a.md)
    print()
    for kind, names in sorted(patched.items()):
        base = "deepspeed" if kind == "megatron-deepspeed" else kind.replace("-toml", "")
        print(f"{kind}: modules stubbed: {', '.join(STUBS[base])}")
        print(f"{kind}: torch names stubbed because an import needed them: {', '.join(sorted(names)) or 'none'}")


def print_rows(rows, md):
    if md:
        print("| plan | framework | result | built params | parplan params | detail |")
        print("|---|---|---|---|---|---|")
    for name, kind, status, detail, built, priced in rows:
        b = f"{built:,}" if isinstance(built, int) else "-"
        pr = f"{priced:,}" if isinstance(priced, int) else "-"
        same = "" if not isinstance(built, int) or not isinstance(priced, int) else (
            " (equal)" if built == priced else f" (diff {built - priced:+,})")
        if md:
            print(f"| {name} | {kind} | {status} | {b}{same} | {pr} | {detail} |")
        else:
            print(f"{name:24s} {kind:16s} {status:10s} built {b}{same} parplan {pr} {detail}")


def torch2_probes(torch, Stub):
    """Answers torch >= 2 and CUDA probes as the target cluster would."""
    import types
    torch.__version__ = "2.11.0"
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 8
    torch.cuda.get_device_capability = lambda *a, **k: (9, 0)
    torch.cuda.get_device_name = lambda *a, **k: "NVIDIA H100 80GB HBM3"
    props = types.SimpleNamespace(major=9, minor=0, name="NVIDIA H100 80GB HBM3",
                                  total_memory=80 * 2**30, multi_processor_count=132)
    torch.cuda.get_device_properties = lambda *a, **k: props
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "uint16", "uint32", "uint64"):
        if not hasattr(torch, name):
            setattr(torch, name, torch.uint8)
    if not hasattr(torch, "compile"):
        torch.compile = lambda f=None, **k: (f if f is not None else (lambda g: g))


def add_rmsnorm(torch):
    if not hasattr(torch.nn, "RMSNorm"):  # torch >= 2.4's module, with its parameter (a weight)
        class RMSNorm(torch.nn.Module):
            def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
                super().__init__()
                shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
                self.normalized_shape, self.eps = shape, eps
                self.weight = torch.nn.Parameter(torch.empty(shape, device=device, dtype=dtype)) if elementwise_affine else None

            def reset_parameters(self):
                if self.weight is not None:
                    torch.nn.init.ones_(self.weight)
        torch.nn.RMSNorm = RMSNorm


def torchtitan_worker(src, script, workdir):
    """The exported launch line through ConfigManager().parse_args (the recipe's config function,
    then tyro), with Trainer.Config's validators; the parameters of the model config it holds."""
    argv, env, world = launch_argv(script, "torchtitan.train", workdir)
    os.environ["DATASET_PATH"] = env.get("DATASET_PATH", "")
    sys.path[:0] = [str(src), str(workdir)]
    Stub = install_stubs(STUBS["torchtitan"])
    import typing
    if not hasattr(typing, "override"):
        typing.override = lambda f: f
    import torch
    torch2_probes(torch, Stub)
    add_rmsnorm(torch)
    import_patched(Stub, "torchtitan", ["torchtitan.config.manager", "torchtitan.trainer"] +
                   [f"torchtitan.models.{m}.config_registry" for m in ("llama3", "deepseek_v3", "qwen3")])
    from torchtitan.config.manager import ConfigManager
    cfg = ConfigManager().parse_args(argv)
    return {"accepted": True, "params": torchtitan_params(cfg), "note": titan_note(cfg)}


def titan_note(cfg):
    p, t, c = cfg.parallelism, cfg.training, cfg.compile
    conv = getattr(getattr(cfg.model_spec, "model", None), "converters", None)
    return (f"tp {p.tensor_parallel_degree} pp {p.pipeline_parallel_degree} dp_shard {p.data_parallel_shard_degree} "
            f"dp_rep {p.data_parallel_replicate_degree}; cuda graphs {'off' if t.disable_cuda_graphs else 'ON'}; "
            f"compile {'on' if c.enable else 'off'}, async TP {'on' if c.enable_async_tensor_parallel else 'off'}")


def torchtitan_params(cfg):
    """Parameters of the model torchtitan builds from the parsed config: its modules constructed
    with every tensor on the meta device (no memory), the parameters counted."""
    import torch
    real_empty = torch.empty
    factories = ("empty", "zeros", "ones", "randn", "rand", "full", "arange", "tensor")
    saved = {f: getattr(torch, f) for f in factories}

    def meta(fn):
        def wrapped(*a, **k):
            k["device"] = "meta"
            return fn(*a, **k)
        return wrapped
    for f in factories:
        setattr(torch, f, meta(saved[f]))
    saved_polar = torch.polar
    torch.polar = lambda a, b, **k: saved["empty"](a.shape, dtype=torch.complex64, device="meta")
    for hook in ("register_state_dict_post_hook", "register_load_state_dict_pre_hook"):
        if not hasattr(torch.nn.Module, hook):  # torch >= 2 API; no effect on the parameters
            setattr(torch.nn.Module, hook, lambda self, *a, **k: None)
    try:
        model = cfg.model_spec.model.build()
        return int(sum(p.numel() for p in model.parameters()))
    except Exception as e:  # noqa: BLE001
        if os.environ.get("CHECK_EXPORTS_DEBUG"):
            traceback.print_exc()
        return f"not built here ({type(e).__name__}: {str(e)[:100]})"
    finally:
        for f in factories:
            setattr(torch, f, saved[f])
        torch.polar = saved_polar
        del real_empty


def torchtitan_toml_worker(src, f, workdir):
    """The TOML through ConfigManager().parse_args(['--job.config_file', f]) of the release before
    the config refactor (238fa99); what its JobConfig holds."""
    sys.path.insert(0, str(src))
    Stub = install_stubs(STUBS["torchtitan"])
    import torch
    torch2_probes(torch, Stub)
    add_rmsnorm(torch)
    import_patched(Stub, "torchtitan", ["torchtitan.config.manager"])
    from torchtitan.config.manager import ConfigManager
    cfg = ConfigManager().parse_args(["--job.config_file", str(f)])
    p = cfg.parallelism
    return {"accepted": True, "note": f"model {cfg.model.name} {cfg.model.flavor}; tp {p.tensor_parallel_degree} "
            f"pp {p.pipeline_parallel_degree} dp_shard {p.data_parallel_shard_degree}; converters {cfg.model.converters}"}


def deepspeed_worker(src, f, workdir):
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
    side_path = pathlib.Path(workdir) / "ds_config.parplan.json"
    if side_path.exists():  # plain DeepSpeed: the sidecar has the layout
        side = json.loads(side_path.read_text())
        lay = side["layout"]
    else:  # Megatron-DeepSpeed: the layout from its launch line
        argv, _, world = launch_argv(pathlib.Path(workdir) / "torchrun.sh", "pretrain_gpt.py", workdir)
        val = lambda k, d: int(argv[argv.index(k) + 1]) if k in argv else d
        tp, pp = val("--tensor-model-parallel-size", 1), val("--pipeline-model-parallel-size", 1)
        sp = val("--ds-sequence-parallel-size", 1)
        lay = {"tp": tp, "pp": pp, "cp": sp, "dp": world // (tp * pp * sp), "megatron_mpu": True,
               "cpu_optimizer": "--cpu-optimizer" in argv}
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
    if config.zero_config.offload_optimizer is not None and config.zero_config.offload_optimizer.device != "none":
        from deepspeed.runtime.engine import DeepSpeedEngine
        eng = DeepSpeedEngine.__new__(DeepSpeedEngine)
        eng._config = config
        eng.zenflow = False
        eng.client_optimizer = None  # deepspeed.initialize(model, config=...) without an optimizer
        name = eng.optimizer_name()
        if name is None:
            if lay.get("megatron_mpu"):
                if not lay["cpu_optimizer"]:
                    raise RuntimeError("offload_optimizer without --cpu-optimizer: Megatron-DeepSpeed "
                                       "passes a GPU Adam, refused at engine start (ZeRORuntimeException)")
                note += "; optimizer from Megatron-DeepSpeed (--cpu-optimizer: DeepSpeedCPUAdam)"
                return {"accepted": True, "note": note}
            raise RuntimeError("offload_optimizer without an optimizer in the config: the script's "
                               "torch optimizer is refused at engine start (ZeRORuntimeException)")
        # The CPU Adam kernel (csrc/adam, JIT-built) does not compile against torch 1.13's headers:
        # its loader is the one stub; DeepSpeedCPUAdam's own constructor runs.
        import deepspeed.ops.adam.cpu_adam as cpu_adam
        cpu_adam.CPUAdamBuilder.load = lambda self, *a, **k: Stub()
        opt = eng._configure_basic_optimizer([torch.nn.Parameter(torch.zeros(16))])
        built = type(opt).__name__
        if "DeepSpeedCPUAdam" not in built:
            raise RuntimeError(f"engine built {built} for offload, not DeepSpeedCPUAdam")
        note += f"; engine optimizer {built} (its C++ kernel stubbed)"
    return {"accepted": True, "note": note}


if __name__ == "__main__":
    main()
