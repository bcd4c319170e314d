#!/usr/bin/env python3
"""Writes the log excerpts of tests/cost/import_test.cpp and tests/cli/import_test.cpp in the
exact formats of the frameworks' code (README.md names the commits). The figures are made up
around plausible values (they are test inputs, not measurements). Run from this folder."""
import json
import random

# --- Megatron-LM (NVIDIA/Megatron-LM@d98e8a64ddf34856e74b24714e3bedb2f5a39553) ---------------
# arguments.py _print_args; training.py training_log(); utils/common_utils.py report_memory();
# core/tokenizers/utils/build_tokenizer.py padded vocab; print_datetime('after training is done').
MEGATRON_ARGS = {
    'accumulate_allreduce_grads_in_fp32': 'False', 'add_bias_linear': 'False', 'add_qkv_bias': 'False',
    'bf16': 'True', 'context_parallel_size': '1', 'data_parallel_size': '4',
    'decoder_first_pipeline_num_layers': 'None', 'decoder_last_pipeline_num_layers': 'None',
    'expert_model_parallel_size': '1', 'expert_tensor_parallel_size': '2', 'ffn_hidden_size': '14336',
    'fp16': 'False', 'fp8': 'None', 'fp8_recipe': 'delayed', 'global_batch_size': '128',
    'group_query_attention': 'True', 'hidden_size': '4096', 'kv_channels': '128', 'log_interval': '10',
    'log_throughput': 'True', 'max_position_embeddings': '8192', 'micro_batch_size': '1',
    'normalization': 'RMSNorm', 'num_attention_heads': '32', 'num_experts': 'None', 'num_layers': '32',
    'num_query_groups': '8', 'overlap_grad_reduce': 'True', 'overlap_param_gather': 'True',
    'pipeline_model_parallel_size': '1', 'position_embedding_type': 'rope', 'qk_layernorm': 'False',
    'recompute_granularity': 'None', 'rotary_base': '500000', 'seq_length': '8192',
    'sequence_parallel': 'True', 'swiglu': 'True', 'tensor_model_parallel_size': '2',
    'tokenizer_type': 'HuggingFaceTokenizer', 'tp_comm_overlap': 'False', 'train_iters': '100',
    'untie_embeddings_and_output_weights': 'True', 'use_distributed_optimizer': 'True',
    'use_torch_fsdp2': 'False', 'virtual_pipeline_model_parallel_size': 'None', 'vocab_size': 'None',
    'world_size': '8',
}


def megatron_args(a):
    out = ['------------------------ arguments ------------------------']
    lines = ['  {} {} {}'.format(k, '.' * (48 - len(k)), v) for k, v in a.items()]
    out += sorted(lines, key=lambda x: x.lower())
    out.append('-------------------- end of arguments ---------------------')
    return out


def megatron_iteration(i, n, ms, tflops, gbs, ts):
    s = f" [2026-08-24 10:{ts // 60 % 60:02d}:{ts % 60:02d}.{i * 7919 % 1000000:06d}]"
    s += ' iteration {:8d}/{:8d} |'.format(i, n)
    s += ' consumed samples: {:12d} |'.format(i * gbs)
    s += ' elapsed time per iteration (ms): {:.1f} |'.format(ms)
    s += f' throughput per GPU (TFLOP/s/GPU): {tflops:.1f} |'
    s += f' learning rate: {3e-4 * min(1, i / 50):.6E} |'
    s += f' global batch size: {gbs:5d} |'
    s += ' lm loss: {:.6E} |'.format(11.0 - 0.05 * i)
    s += f' loss scale: {1.0:.1f} |'
    s += f' grad norm: {2.5 - 0.01 * i:.3f} |'
    s += ' number of skipped iterations: {:3d} |'.format(0)
    s += ' number of nan iterations: {:3d} |'.format(0)
    return s


def megatron(a, base_ms, tflops, n_iters=100, interval=10, done=True, header=True):
    L = ['using world size: {}, data-parallel size: {}, context-parallel size: {}, hierarchical '
         'context-parallel sizes: None, tensor-model-parallel size: {}, pipeline-model-parallel '
         'size: {}'.format(a['world_size'], a['data_parallel_size'], a['context_parallel_size'],
                           a['tensor_model_parallel_size'], a['pipeline_model_parallel_size'])]
    if header:
        L += megatron_args(a)
    L.append('> building HuggingFaceTokenizer tokenizer ...')
    L.append(' > padded vocab (size: 128256) with 0 dummy tokens (new size: 128256)')
    L.append('[after dataloaders are built] datetime: 2026-08-24 10:00:41.118302 ')
    L.append('training ...')
    ts = 0
    for i in range(interval, n_iters + 1, interval):
        ms = base_ms * (1.9 if i == interval else 1 + random.uniform(-0.015, 0.015))
        ts += int(ms * interval / 1000)
        L.append(megatron_iteration(i, n_iters, ms, tflops * base_ms / ms, int(a['global_batch_size']), ts))
        if i == interval:
            L.append('[Rank 0] (after {} iterations) memory (MB) | allocated: 31021.27 | max allocated: '
                     '58712.44 | reserved: 61224.00 | max reserved: 61224.00'.format(i))
    if done:
        L.append('[after training is done] datetime: 2026-08-24 10:{:02d}:{:02d}.512734 '.format(
            ts // 60 % 60, ts % 60))
    return L


# --- torchtitan (pytorch/torchtitan@238fa9953e4aec2a62582121564273d7cbb1e9f1) -----------------
# tools/logging.py format; distributed/parallel_dims.py mesh line; train.py Starting job, Building
# ... with {json}, Trainer is initialized, Training completed; components/metrics.py step line.
RED, GREEN, ORANGE, TURQ, BLUE, CYAN, MAGENTA, RESET = (
    '\033[31m', '\033[32m', '\033[33m', '\033[36m', '\033[34m', '\033[96m', '\033[35m', '\033[39m')
LLAMA3_8B = {"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
             "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000,
             "rope_scaling_args": {"scaling_factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
             "max_seq_len": 8192, "depth_init": True, "attn_type": "sdpa",
             "attn_mask_type": "causal", "eos_id": 0}


def titan_prefix(t):
    return f"[titan] 2026-08-24 11:{t // 60 % 60:02d}:{t % 60:02d},{(t * 37) % 1000:03d} - root - INFO - "


def torchtitan(tps_base, steps=100, dp_shard=8):
    p = titan_prefix
    L = [p(0) + "Starting job: Llama 3 8B training",
         p(1) + f"Building device mesh with parallelism: pp=1, dp_replicate=1, dp_shard={dp_shard}, "
                "cp=1, tp=1, ep=1, etp=1",
         p(1) + "Successfully created meshes with active dimensions: ['batch', 'loss', 'fsdp', 'efsdp']",
         p(2) + "CUDA capacity: NVIDIA H100 80GB HBM3 with 79.11GiB memory",
         p(3) + "Building llama3 8Bwith " + json.dumps(LLAMA3_8B, indent=2, ensure_ascii=False),
         p(4) + f"{BLUE}Model llama3 8B {RED}size: 8,030,261,248 total parameters{RESET}",
         p(5) + "Peak FLOPS used for computing MFU: 9.890e+14",
         p(5) + "CUDA memory usage for model: 3.77GiB(4.77%)",
         p(6) + f"Trainer is initialized with local batch size 1, global batch size {dp_shard}, gradient "
                f"accumulation steps 1, sequence length 8192, total steps {steps} (warmup 200)",
         p(6) + "Training starts at step 1"]
    t = 10
    for s in [1] + list(range(10, steps + 1, 10)):
        tps = tps_base * (0.35 if s == 1 else 1 + random.uniform(-0.012, 0.012))
        tflops = 6 * 8.03e9 * tps / 1e12
        mfu = 100 * tflops * 1e12 / 9.89e14
        mem = 47.91 + (0.0 if s == 1 else 2.1)
        t += 8
        L.append(p(t) + f"{RED}step: {s:2}  {GREEN}loss: {10.9 - 0.03 * s:8.5f}  {ORANGE}grad_norm: "
                        f"{1.8 - 0.004 * s:7.4f}  {TURQ}memory: {mem:5.2f}GiB({100 * mem / 79.11:.2f}%)  "
                        f"{BLUE}tps: {round(tps):,}  {CYAN}tflops: {tflops:,.2f}  {MAGENTA}mfu: {mfu:.2f}%{RESET}")
    L.append(p(t + 1) + "Sleeping 2 seconds for other ranks to complete")
    L.append(p(t + 3) + "Training completed")
    return L


# --- DeepSpeed (deepspeedai/DeepSpeed@edaa7221267243c7be7fb49c5d5f5c4fb97b4641) ----------------
# utils/logging.py format; runtime/config.py DeepSpeedConfig.print + print_user_config;
# utils/timer.py ThroughputTimer.stop.
DS_CONFIG = {"train_batch_size": 64, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4,
             "steps_per_print": 10, "bf16": {"enabled": True},
             "zero_optimization": {"stage": 3, "overlap_comm": True, "contiguous_gradients": True,
                                   "reduce_bucket_size": 5e8, "stage3_prefetch_bucket_size": 5e8,
                                   "stage3_param_persistence_threshold": 1e6},
             "gradient_clipping": 1.0,
             "optimizer": {"type": "AdamW", "params": {"lr": 3e-4, "betas": [0.9, 0.95], "eps": 1e-8,
                                                        "weight_decay": 0.1}},
             "wall_clock_breakdown": False}
DS_ATTRS = {"world_size": 8, "train_batch_size": 64, "train_micro_batch_size_per_gpu": 2,
            "gradient_accumulation_steps": 4, "steps_per_print": 10, "zero_enabled": True,
            "zero_optimization_stage": 3, "gradient_clipping": 1.0, "optimizer_name": "adamw",
            "global_rank": 0, "num_gpus_per_node": 8, "wall_clock_breakdown": False,
            "memory_breakdown": False, "dump_state": False, "prescale_gradients": False,
            "sparse_gradients_enabled": False}


def ds_prefix(t, f='config.py', ln=1008, fn='print'):
    return f"[2026-08-24 12:{t // 60 % 60:02d}:{t % 60:02d},{(t * 53) % 1000:03d}] [INFO] [{f}:{ln}:{fn}] "


def deepspeed(step_s, steps=100):
    p = ds_prefix
    L = [p(0, 'engine.py', 1489, '_configure_optimizer') + "Using client Optimizer as basic optimizer",
         p(1, 'utils.py', 781, 'see_memory_usage') + "Stage 3 initialize beginning",
         p(2) + "DeepSpeedEngine configuration:"]
    for k in sorted(DS_ATTRS):
        L.append(p(2) + "  {} {} {}".format(k, '.' * (29 - len(k)), DS_ATTRS[k]))
    L.append(p(2, 'config.py', 998, 'print_user_config') + "  json = " +
             json.dumps(DS_CONFIG, sort_keys=True, indent=4, separators=(",", ":")))
    L.append(p(3, 'engine.py', 371, '__init__') + "DeepSpeed Flops Profiler Enabled: False")
    t, run_t, n = 10, 0.0, 0
    for s in range(10, steps + 1, 10):
        st = step_s * (1 + random.uniform(-0.02, 0.02))
        t += int(st * 10)
        run_t += st * 10
        n += 10
        L.append(p(t, 'logging.py', 128, 'log_dist') + f"[Rank 0] step={s}, skipped=0, lr=[0.0003], mom=[(0.9, 0.95)]")
        L.append(p(t, 'timer.py', 264, 'stop') +
                 "epoch=0/micro_step={}/global_step={}, RunningAvgSamplesPerSec={}, CurrSamplesPerSec={}, "
                 "MemAllocated={}GB, MaxMemAllocated={}GB".format(s * 4, s, 64 / (run_t / max(1, n - 2)),
                                                                   64 / st, 17.83, 61.37))
    return L


def write(name, lines, newline=True):
    with open(name, 'w') as f:
        f.write('\n'.join(lines) + ('\n' if newline else ''))


if __name__ == '__main__':
    random.seed(7)
    base, tflops = 17500.0, 457.0
    write('megatron-llama3-8b-tp2.log', megatron(MEGATRON_ARGS, base, tflops))
    trunc = megatron(MEGATRON_ARGS, base, tflops, done=False)[:-5]
    trunc[-1] = trunc[-1][:90]  # cut in the middle of the last iteration line
    write('megatron-truncated.log', trunc, newline=False)
    write('megatron-no-config.log', megatron(MEGATRON_ARGS, base, tflops, header=False))
    other = dict(MEGATRON_ARGS, tensor_model_parallel_size='4', data_parallel_size='2')
    write('megatron-mixed.log', megatron(MEGATRON_ARGS, base, tflops) + megatron(other, 16000.0, 500.0))
    write('megatron-world-size.log', megatron(dict(MEGATRON_ARGS, world_size='16'), base, tflops))
    random.seed(11)
    write('torchtitan-llama3-8b.log', torchtitan(7450))
    random.seed(5)
    with open('deepspeed-ds_config.json', 'w') as f:
        json.dump(DS_CONFIG, f, indent=2)
        f.write('\n')
    write('deepspeed-llama2-7b-zero3.log', deepspeed(5.2))
