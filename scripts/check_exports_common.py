"""What every framework check of scripts/check_exports.py shares: the stubs for the modules the
frameworks import that need a newer torch or a GPU, the torch names an import needs added one at a
time (docs/exports.md lists them; one module, so that every worker and helper shares PATCHED), and
the launch line an exported script runs."""
import json
import os
import pathlib
import subprocess
import sys


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
    "megatron-deepspeed": ["transformers", "regex", "intel_extension_for_pytorch", "transformer_engine", "ezpz", "tensorboard",
                           "apex", "flash_attn"],  # and DeepSpeed's below
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
