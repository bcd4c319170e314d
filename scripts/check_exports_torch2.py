"""What DeepSpeed's engine start needs of torch >= 2 on Debian's torch 1.13, each with the same
effect (scripts/check_exports.py, docs/exports.md)."""
import pathlib


def ds_version(src):
    """DeepSpeed run from its source tree reports version 0.0.0 (git_version_info_installed.py is
    written by setup.py); an installed copy reports version.txt."""
    import deepspeed
    v = (pathlib.Path(src) / "version.txt").read_text().strip()
    if deepspeed.__version__.startswith("0.0.0"):
        deepspeed.__version__ = v
        deepspeed.__version_major__, deepspeed.__version_minor__, deepspeed.__version_patch__ = (
            int(x) for x in v.split(".")[:3])


def torch2_for_engine(torch):
    """What deepspeed.initialize needs of torch >= 2 on torch 1.13, each with the same effect:
    nn.Module hooks taking prepend/with_kwargs (torch 2.0), bfloat16 collectives (gloo in 1.13 has
    none: the same collective on an fp32 copy), and cpp_extension's C++17 default (torch >= 2.1;
    1.13 passes -std=c++14, which csrc/includes/simd.h does not compile with)."""
    import torch.distributed as tdist
    M = torch.nn.Module
    pre, post = M.register_forward_pre_hook, M.register_forward_hook

    def pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        if not with_kwargs:
            return pre(self, hook)

        def h(m, args):
            r = hook(m, args, {})
            return r[0] if r is not None else None
        return pre(self, h)

    def post_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        if not with_kwargs:
            return post(self, hook)
        return post(self, lambda m, args, out: hook(m, args, {}, out))
    M.register_forward_pre_hook, M.register_forward_hook = pre_hook, post_hook

    def via_fp32(fn):
        def wrapped(tensor, *a, **k):
            if tensor.dtype != torch.bfloat16:
                return fn(tensor, *a, **k)
            t = tensor.float()
            fn(t, *a, **{**k, "async_op": False})
            tensor.copy_(t)
        return wrapped
    for n in ("broadcast", "all_reduce", "reduce"):
        setattr(tdist, n, via_fp32(getattr(tdist, n)))

    class Done:  # a finished collective's handle
        def wait(self, *a):
            return True

        def is_completed(self):
            return True

    # Gloo in 1.13 has neither _allgather_base nor _reduce_scatter_base, which 1.13's
    # all_gather_into_tensor / reduce_scatter_tensor call: written with the list all_gather and
    # all_reduce (the same result).
    def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
        n = tdist.get_world_size(group)
        outs = [torch.empty_like(input_tensor, dtype=torch.float32) for _ in range(n)]
        tdist.all_gather(outs, input_tensor.float(), group=group)
        output_tensor.copy_(torch.cat(outs).view_as(output_tensor))
        return Done() if async_op else None

    def reduce_scatter_tensor(output_tensor, input_tensor, op=tdist.ReduceOp.SUM, group=None, async_op=False):
        n, r = tdist.get_world_size(group), tdist.get_rank(group)
        t = input_tensor.float().clone()
        tdist.all_reduce(t, op=op, group=group)
        output_tensor.copy_(t.view(-1).chunk(n)[r].view_as(output_tensor))
        return Done() if async_op else None
    for mod in (tdist, tdist.distributed_c10d):  # 1.13 has the names, over _allgather_base
        mod.all_gather_into_tensor = all_gather_into_tensor
        mod.reduce_scatter_tensor = reduce_scatter_tensor


def cxx17(builder_cls):
    """-std=c++17 on every op built like builder_cls (on the class defining cxx_args: DeepSpeed's
    CPUOpBuilder for the CPU accelerator's ops)."""
    builder_cls = next(c for c in builder_cls.__mro__ if "cxx_args" in c.__dict__)
    orig = builder_cls.cxx_args
    if not getattr(orig, "cxx17", False):
        def cxx_args(self):
            return orig(self) + ["-std=c++17"]
        cxx_args.cxx17 = True
        builder_cls.cxx_args = cxx_args
