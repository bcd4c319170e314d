"""torchtitan's checks (scripts/check_exports.py): the exported launch line through its
ConfigManager, the model it builds counted on the meta device, and the TOML through the loader of
the release before the config refactor."""
import os
import sys
import traceback

from check_exports_common import STUBS, import_patched, install_stubs, launch_argv


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
    # torchao (stubbed) as far as the parameter count goes: its Float8Linear is an nn.Linear with
    # the same weight and bias (torchao/float8/float8_linear.py), which the Float8 converter swaps in.
    import torchao.float8.float8_linear as f8

    class Float8Linear(torch.nn.Linear):
        def __init__(self, in_features, out_features, bias=True, device=None, config=None):
            super().__init__(in_features, out_features, bias=bias, device=device)
    f8.Float8Linear = Float8Linear
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
