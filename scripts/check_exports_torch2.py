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
    none: the same collective on an fp32 copy), autograd.Functions in torch 2.0's setup_context
    form (ZeRO-3's), torch.get_autocast_dtype (2.4), and cpp_extension's C++17 default (torch >=
    2.1; 1.13 passes -std=c++14, which csrc/includes/simd.h does not compile with)."""
    import torch.distributed as tdist
    import torch.autograd.function as AF
    # torch 2.0's autograd.Function form: forward(*inputs) without ctx, then
    # setup_context(ctx, inputs, output) (ZeRO-3's PostBackwardFunctionModule, ...). 1.13 calls
    # forward(ctx, *inputs): such a class gets a forward that runs both, as torch 2 does.
    meta_init = AF.FunctionMeta.__init__

    def torch2_form(cls):
        attrs = cls.__dict__
        if "setup_context" in attrs and "forward" in attrs and not getattr(cls, "_torch2_form", False):
            fwd, setup = attrs["forward"].__func__, attrs["setup_context"].__func__

            def forward(ctx, *inputs):
                out = fwd(*inputs)
                setup(ctx, inputs, out)
                return out
            cls.forward = staticmethod(forward)
            cls._torch2_form = True

    def function_meta_init(cls, name, bases, attrs):
        torch2_form(cls)
        meta_init(cls, name, bases, attrs)

    def classes_defined(c):
        for sub in c.__subclasses__():
            yield sub
            yield from classes_defined(sub)
    if not hasattr(AF.Function, "setup_context"):
        AF.FunctionMeta.__init__ = function_meta_init
        for c in list(classes_defined(AF.Function)):  # those defined before (deepspeed imported)
            torch2_form(c)
    if not hasattr(torch, "get_autocast_dtype"):  # torch 2.4's, by device type
        torch.get_autocast_dtype = lambda device_type: (
            torch.get_autocast_cpu_dtype() if device_type == "cpu" else torch.get_autocast_gpu_dtype())
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


def keep_grad_accumulators():
    """DeepSpeed's gradient hooks on torch < 2.1 (deepspeed/utils/torch.py register_grad_hook, at
    edaa722) register on the parameter's AccumulateGrad node without keeping that node: the autograd
    graph holds it only weakly, so it is freed with its hook before the first backward, no gradient
    reaches the ZeRO buckets, and the step stops at stage_1_and_2.py (IndexError on the empty
    bucket). torch >= 2.1's register_post_accumulate_grad_hook keeps the hook with the parameter;
    here the handle keeps the node (the same effect). Call after `import deepspeed`."""
    import importlib
    import deepspeed.utils.torch as U
    orig = U.register_grad_hook

    def register_grad_hook(param, hook):
        if U.required_torch_version(min_version=2.1):
            return orig(param, hook)
        acc = param.expand_as(param).grad_fn.next_functions[0][0]
        handle = acc.register_hook(hook)
        handle.grad_acc = acc  # DeepSpeed keeps the handles (self._grad_acc_hooks): the node lives
        return handle
    # The ZeRO-1/2 gradient hook counts the parameters the running backward will reach
    # (deepspeed/runtime/utils.py count_used_parameters_in_backward) with torch >= 2.2's
    # autograd.graph._get_grad_fn_or_grad_acc (its code below) and torch._C._current_graph_task_id
    # (an id inside a backward, -1 outside; DeepSpeed only compares it with -1): answered from
    # 1.13's _will_engine_execute_node, which raises outside a backward. 1.13 has
    # _will_engine_execute_node itself.
    import torch
    if not hasattr(torch.autograd.graph, "_get_grad_fn_or_grad_acc"):
        def _get_grad_fn_or_grad_acc(t):
            if t.requires_grad and t.grad_fn is None:
                with torch.enable_grad():
                    return t.view_as(t).grad_fn.next_functions[0][0]
            return t.grad_fn
        torch.autograd.graph._get_grad_fn_or_grad_acc = _get_grad_fn_or_grad_acc
    if not hasattr(torch._C, "_current_graph_task_id"):
        probe = torch.zeros(1, requires_grad=True)

        def _current_graph_task_id():
            with torch.enable_grad():  # (hooks run with grad mode off)
                node = probe.view_as(probe).grad_fn.next_functions[0][0]
            try:
                torch._C._will_engine_execute_node(node)
                return 0
            except RuntimeError:
                return -1
        torch._C._current_graph_task_id = _current_graph_task_id
    for m in ("deepspeed.utils.torch", "deepspeed.runtime.bf16_optimizer", "deepspeed.runtime.zero.stage3",
              "deepspeed.runtime.zero.stage_1_and_2"):
        importlib.import_module(m).register_grad_hook = register_grad_hook
