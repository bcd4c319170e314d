"""DeepSpeed's PipelineEngine started for an exported ds_config.json with pipeline parallelism, the
way a user's training script starts it (scripts/check_exports.py; docs/exports.md):

  one process per pipeline stage (RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT / LOCAL_RANK, as
  torchrun sets them; gloo on 127.0.0.1, DeepSpeed's CPU accelerator), each building a
  deepspeed.pipe.PipelineModule of the exported model's layer sequence (embedding, one transformer
  layer per model layer, final norm, LM head; tied embedding as a TiedLayerSpec where the model
  ties it) at a small width, with the plan's number of stages, the partition method and
  activation-checkpoint interval the notes (or Megatron-DeepSpeed's GPTModelPipe) name, then
  deepspeed.initialize(model=module, config=<ds_config.json unchanged>) with the optimizer the
  notes name, and one engine.train_batch over a tiny data iterator.

What is real: the pp processes and their process group, DeepSpeed's topology, grid and p2p groups
over them, the PipelineModule's partition of the layers (printed per stage), the engine, its ZeRO /
BF16 optimizer around the optimizer the config names (kernels JIT-built from csrc/), the 1F1B
schedule with activations and gradients sent between the stage processes, the optimizer step.
What is answered: the data-parallel degree. The real topology is pp x 1 x 1 (one rank per stage;
the plans have dp 8-128 and tp up to 8); the grid's data_parallel_size and
get_data_parallel_world_size() answer the plan's dp, so that DeepSpeedConfig's batch arithmetic
(train_batch_size = micro x accumulation x dp) and the PipelineEngine's own asserts check the
config unchanged, while the data-parallel groups the collectives use hold the one real rank.
Tensor parallelism is not built (the width is scaled down; the module is not sliced)."""
import json
import os
import pathlib
import re
import socket
import subprocess
import time

WIDTH = {"hidden": 16, "heads": 4, "vocab": 64, "seq": 8, "experts": 8, "topk": 2}


def pipe_spec(plan, cfg, notes, lay, megatron_ds_src=None):
    """What each stage process builds: the model's layer sequence (from the plan), the number of
    stages, the partition method and the checkpoint interval the notes name (Megatron-DeepSpeed:
    the ones its GPTModelPipe passes, read from its source)."""
    m = plan["model"]
    moe = m.get("moe") or {}
    if megatron_ds_src:
        src = (pathlib.Path(megatron_ds_src) / "megatron/model/gpt_model.py").read_text()
        method = re.search(r'partition_method="([^"]+)"', src.split("class GPTModelPipe")[1]).group(1)
        interval = lay["checkpoint_interval"]
        stages = lay["pp"]
        configure = lay["deepspeed_activation_checkpointing"]  # megatron/initialize.py calls it then
        checkpointable = None  # GPTModelPipe's own rule: its transformer layers
    else:
        text = " ".join(notes)
        mm = re.search(r"PipelineModule with num_stages=(\d+) and partition_method='([^']+)'", text)
        if not mm:
            raise RuntimeError("the notes (ds_config.parplan.json script_must) name no PipelineModule partition")
        stages, method = int(mm.group(1)), mm.group(2)
        if stages != lay["pp"]:
            raise RuntimeError(f"the notes name num_stages={stages}, the plan has pp {lay['pp']}")
        mi = re.search(r"activation_checkpoint_interval=(\d+)", text)
        interval = int(mi.group(1)) if mi else 0
        configure = "checkpointing.configure" in text
        checkpointable = ["ParallelTransformerLayerPipe"] if "checkpointable_layers" in text else None
    heads = WIDTH["heads"]
    experts = [0] * m["layers"]
    if moe.get("experts", 0) > 1:
        freq = max(1, moe.get("layer_freq", 1))
        for i in range(moe.get("first_dense_layers", 0), m["layers"]):
            if (i - moe.get("first_dense_layers", 0)) % freq == 0:
                experts[i] = min(moe["experts"], WIDTH["experts"])
    return {"megatron_ds": bool(megatron_ds_src), "stages": stages, "method": method, "interval": interval,
            "configure": configure, "checkpointable": checkpointable, "dp": lay["dp"], "tp": lay.get("tp", 1),
            "layers": m["layers"], "tied": bool(m.get("tied_embeddings")), "rmsnorm": m.get("norm") == "rmsnorm",
            "gated": bool(m.get("gated_mlp")), "bias": bool(m.get("linear_bias", True)),
            "heads": heads, "kv_heads": max(1, heads * m.get("kv_heads", m["heads"]) // m["heads"]),
            "ffn": max(8, round(WIDTH["hidden"] * m["ffn_hidden"] / m["hidden"])),
            "experts": experts, "topk": min(moe.get("experts_per_token", 1), WIDTH["topk"]),
            "shared": moe.get("shared_experts", 0), "micro": cfg["train_micro_batch_size_per_gpu"]}


def launch(cmd, spec, workdir, timeout):
    """Starts spec['stages'] processes of `cmd` as torchrun would (one per rank, rendezvous on
    127.0.0.1) and returns rank 0's RESULT, or the first rank's rejection."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    n = spec["stages"]
    logs, procs = [], []
    for r in range(n):
        log = pathlib.Path(workdir) / f"pipe-stage{r}.log"
        logs.append(log)
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(n), LOCAL_RANK=str(r), LOCAL_SIZE=str(n),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1",
                   CHECK_EXPORTS_PIPE=json.dumps(spec))
        with open(log, "w") as out:
            procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))
    end = time.time() + timeout
    while time.time() < end and any(p.poll() is None for p in procs):
        if any(p.returncode not in (None, 0) for p in procs):
            time.sleep(5)  # let the others print their result or fail on the broken group
            break
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    results = []
    for r, log in enumerate(logs):
        text = log.read_text(errors="replace")
        line = next((l for l in text.splitlines() if l.startswith("RESULT ")), None)
        results.append(json.loads(line[7:]) if line else
                       {"accepted": False, "rejection": f"rank {r} stopped: " + ((text.strip().splitlines() or ["?"])[-1])[:300],
                        "where": ""})
    bad = next((r for r in results if not r["accepted"]), None)
    if bad:
        return bad
    r0 = results[0]
    losses = sorted({r.get("loss") for r in results if r.get("loss") is not None})
    if losses:  # the engine averages the loss over its dp group (one real rank) dividing by the answered dp
        r0["note"] += (f"; one train_batch ran ({results[0]['micro_batches']} micro-batches, 1F1B over {n} "
                       f"processes): loss {losses[0] * spec['dp']:.3f} (engine: {losses[0]:.4f} = / dp {spec['dp']})")
    return r0


def stage_worker(setup):
    """One pipeline stage (this process's RANK): the PipelineModule, deepspeed.initialize with the
    exported config unchanged, one train_batch. `setup(rank, world, port)` installs the stubs and
    torch-2 shims of the engine start and initialises deepspeed.comm over gloo."""
    spec = json.loads(os.environ["CHECK_EXPORTS_PIPE"])
    deepspeed, torch = setup()
    # DeepSpeed's activation checkpointing opens a side stream (get_accelerator().Stream(device=...),
    # torch.cuda.Stream on a GPU); the CPU accelerator's Stream property is None, not a class. On
    # CPU a stream is nothing: a constructor returning None (its stream(None) is a no-op context).
    from deepspeed.accelerator import get_accelerator
    type(get_accelerator()).Stream = property(lambda self: (lambda *a, **k: None))
    from deepspeed.pipe import LayerSpec, PipelineModule, TiedLayerSpec
    from deepspeed.runtime.pipe.topology import PipeModelDataParallelTopology
    nn, F = torch.nn, torch.nn.functional
    h, v, seq = WIDTH["hidden"], WIDTH["vocab"], WIDTH["seq"]

    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(h))
            self.bias = None if spec["rmsnorm"] else nn.Parameter(torch.zeros(h))

        def forward(self, x):
            if self.bias is None:
                return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight
            return F.layer_norm(x, (h,), self.weight, self.bias)

    class MLP(nn.Module):
        def __init__(self, ffn):
            super().__init__()
            self.fc1 = nn.Linear(h, ffn * (2 if spec["gated"] else 1), bias=spec["bias"])
            self.fc2 = nn.Linear(ffn, h, bias=spec["bias"])

        def forward(self, x):
            y = self.fc1(x)
            if spec["gated"]:
                a, b = y.chunk(2, dim=-1)
                return self.fc2(F.silu(a) * b)
            return self.fc2(F.gelu(y))

    class ParallelTransformerLayerPipe(nn.Module):  # the name 'type:transformer' partitions on
        def __init__(self, experts):
            super().__init__()
            hd, kv = h // spec["heads"], spec["kv_heads"]
            self.ln1, self.ln2 = Norm(), Norm()
            self.qkv = nn.Linear(h, h + 2 * kv * hd, bias=spec["bias"])
            self.proj = nn.Linear(h, h, bias=spec["bias"])
            if experts:
                self.router = nn.Linear(h, experts, bias=False)
                self.experts = nn.ModuleList(MLP(spec["ffn"]) for _ in range(experts))
                self.shared = nn.ModuleList(MLP(spec["ffn"]) for _ in range(spec["shared"]))
            else:
                self.mlp = MLP(spec["ffn"])

        def forward(self, x):
            b, s, _ = x.shape
            nh, kv, hd = spec["heads"], spec["kv_heads"], h // spec["heads"]
            q, k, val = self.qkv(self.ln1(x)).split([h, kv * hd, kv * hd], dim=-1)
            q = q.view(b, s, nh, hd).transpose(1, 2)
            k = k.view(b, s, kv, hd).transpose(1, 2).repeat_interleave(nh // kv, dim=1)
            val = val.view(b, s, kv, hd).transpose(1, 2).repeat_interleave(nh // kv, dim=1)
            att = (q @ k.transpose(-1, -2)) / hd ** 0.5
            att = att.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
            x = x + self.proj((att @ val).transpose(1, 2).reshape(b, s, h))
            y = self.ln2(x)
            if not hasattr(self, "router"):
                return x + self.mlp(y)
            w, idx = self.router(y).softmax(-1).topk(spec["topk"], dim=-1)
            out = sum(m(y) for m in self.shared) if len(self.shared) else torch.zeros_like(y)
            for e, m in enumerate(self.experts):  # every expert on every token, weighted by the router
                gate = (w * (idx == e)).sum(-1, keepdim=True)
                out = out + gate * m(y)
            return x + out

    class EmbeddingPipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(v, h)

        @property
        def word_embeddings_weight(self):
            return self.word_embeddings.weight

        def forward(self, ids):
            return self.word_embeddings(ids)

    class LMHeadPipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm_head = nn.Linear(h, v, bias=False)

        def forward(self, x):
            return self.lm_head(x)

    def logits(embedding, x):
        return x @ embedding.word_embeddings_weight.t()

    def loss_fn(out, labels):
        return F.cross_entropy(out.float().reshape(-1, v), labels.reshape(-1))

    def _to_float16(x):  # GPTModelPipe's first and last specs (functions, no layer of their own)
        return x

    def float16_to_fp32(x):
        return x.float()

    specs = [_to_float16] if spec["megatron_ds"] else []
    specs.append(TiedLayerSpec("embed", EmbeddingPipe, tied_weight_attr="word_embeddings.weight") if spec["tied"]
                 else LayerSpec(EmbeddingPipe))
    specs += [LayerSpec(ParallelTransformerLayerPipe, e) for e in spec["experts"]]
    specs.append(LayerSpec(Norm))
    specs.append(TiedLayerSpec("embed", EmbeddingPipe, forward_fn=logits, tied_weight_attr="word_embeddings.weight")
                 if spec["tied"] else LayerSpec(LMHeadPipe))
    if spec["megatron_ds"]:
        specs.append(float16_to_fp32)
    topo = PipeModelDataParallelTopology(num_pp=spec["stages"], num_mp=1, num_dp=1)
    # Megatron-DeepSpeed's GPTModelPipe: PipelineModule checkpoints its transformer layers only;
    # otherwise the layers the notes name in checkpointable_layers (or, without, every layer with
    # parameters: DeepSpeed's default)
    Module = type("GPTModelPipe", (PipelineModule,), {}) if spec["megatron_ds"] else PipelineModule
    kw = {"checkpointable_layers": spec["checkpointable"]} if spec["checkpointable"] else {}
    module = Module(layers=specs, topology=topo, loss_fn=loss_fn, partition_method=spec["method"],
                    activation_checkpoint_interval=spec["interval"], **kw)
    grid = module.mpu()
    dp = spec["dp"]  # answered (see the module docstring): the batch arithmetic sees the plan's dp
    grid.data_parallel_size = dp
    grid.get_data_parallel_world_size = lambda: dp
    cfg = json.loads(pathlib.Path(spec["config"]).read_text())
    if spec["configure"]:
        class Mpu:  # Megatron's mpu, as the notes (and Megatron-DeepSpeed) pass it, over the grid
            def __getattr__(self, name):
                return getattr(grid, name.replace("tensor_model_parallel_group", "slice_parallel_group"))
        deepspeed.checkpointing.configure(Mpu(), deepspeed_config=cfg, **spec.get("ckpt", {}))
    params = [p for p in module.parameters() if p.requires_grad]
    opt = None  # the notes: the engine builds the config's optimizer; Megatron-DeepSpeed passes its own
    if spec.get("client") == "DeepSpeedCPUAdam":
        from deepspeed.ops.adam import DeepSpeedCPUAdam
        opt = DeepSpeedCPUAdam(params, lr=1e-4)
    elif spec.get("client"):
        opt = getattr(torch.optim, spec["client"])(params, lr=1e-4)
    engine, optimizer, _, _ = deepspeed.initialize(model=module, config=cfg, optimizer=opt,
                                                   model_parameters=None if opt else params)
    parts = [module.parts[i + 1] - module.parts[i] for i in range(spec["stages"])]
    # the layer counts per stage: embedding and head included (the transformer layers alone below)
    first = 2 if spec["megatron_ds"] else 1  # the index of the first transformer layer's spec
    tl = [sum(1 for j in range(module.parts[i], module.parts[i + 1]) if first <= j < first + spec["layers"])
          for i in range(spec["stages"])]
    inner = getattr(engine, "basic_optimizer", None) or getattr(optimizer, "optimizer", None)
    note = (f"engine {type(engine).__name__}, {type(optimizer).__name__} around basic {type(inner).__name__}; "
            f"{spec['method']}: transformer layers per stage {'/'.join(map(str, tl))} (of {len(specs)} specs: "
            f"{'/'.join(map(str, parts))}); dp {engine.dp_world_size} answered, {spec['stages']} real ranks")
    if spec.get("client"):
        note = note.replace(f"basic {type(inner).__name__}", f"basic {type(inner).__name__} (client {spec['client']})")
    out = {"accepted": True, "note": note}
    try:
        g = torch.Generator().manual_seed(0)
        batch = [(torch.randint(0, v, (spec["micro"], seq), generator=g),
                  torch.randint(0, v, (spec["micro"], seq), generator=g)) for _ in range(4)]
        from deepspeed.runtime.dataloader import RepeatingLoader
        loss = engine.train_batch(data_iter=iter(RepeatingLoader(batch)))
        out["loss"] = float(loss)
        out["micro_batches"] = engine.micro_batches
    except Exception as e:  # noqa: BLE001 — reported, the start itself succeeded
        import traceback
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "deepspeed" in f.filename), "")
        out["note"] += f"; train_batch: {type(e).__name__}: {str(e)[:200]} [{where}]"
    return out


def one_step(engine, torch):
    """One training step of a (non-pipeline) engine as a training loop runs it: forward, engine.backward,
    engine.step on each micro-batch of one optimizer step (gradient_accumulation_steps of them).
    Returns a note: the loss, or where the step stopped."""
    import traceback
    try:
        g = torch.Generator().manual_seed(0)
        dev = next(engine.module.parameters()).device
        dtype = next(engine.module.parameters()).dtype
        n = engine.gradient_accumulation_steps()
        for _ in range(n):
            x = torch.randn(engine.train_micro_batch_size_per_gpu(), 64, generator=g).to(dev, dtype)
            loss = engine(x).float().pow(2).mean()
            engine.backward(loss)
            engine.step()
        return f"; one optimizer step ran ({n} micro-batches): loss {float(loss):.4f}, global step {engine.global_steps}"
    except Exception as e:  # noqa: BLE001 — reported; the engine itself started
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "deepspeed" in f.filename), "")
        if os.environ.get("CHECK_EXPORTS_DEBUG"):
            traceback.print_exc()
        return f"; step: {type(e).__name__}: {str(e)[:160]} [{where}]"
