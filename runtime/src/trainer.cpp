// One rank of a run: groups, model stage, data, schedule, DP/ZeRO, logging, evaluation,
// checkpoints, sampling, measured.json and the Chrome trace.
#include "trainer.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "blas_info.hpp"
#include "checkpoint.hpp"
#include "comm.hpp"
#include "device.hpp"
#include "dp_overlap.hpp"
#include "gpt.hpp"
#include "llama_layers.hpp"
#include "memory_meter.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/data.hpp"
#include "parplan/runtime/fault_hooks.hpp"
#include "parplan/runtime/launcher.hpp"
#include "context_parallel.hpp"
#include "expert_parallel.hpp"
#include "optimizers.hpp"
#include "pipeline.hpp"
#include "trace.hpp"
#include "zero.hpp"

namespace parplan::runtime {
namespace fs = std::filesystem;

std::vector<std::string> check_runnable(const Plan& plan, int nproc) {
  const auto& l = plan.layout;
  const auto& m = plan.model;
  const auto& t = plan.training;
  std::vector<std::string> errors, warnings;
  if (nproc != l.gpus())
    errors.push_back("--nproc " + std::to_string(nproc) + " does not match the plan's " +
                     std::to_string(l.gpus()) + " GPUs (dp*tp*pp*cp = " + std::to_string(l.dp) +
                     "*" + std::to_string(l.tp) + "*" + std::to_string(l.pp) + "*" +
                     std::to_string(l.cp) + ")");
  check_context_parallel(plan, errors);
  check_expert_parallel(plan, errors);
  if (l.virtual_stages > 1 && l.schedule != Schedule::Interleaved)
    errors.push_back("layout.virtual_stages > 1 needs layout.schedule interleaved");
  if (l.pp > 1 && (l.schedule == Schedule::ZbV || l.schedule == Schedule::DualPipe))
    errors.push_back(std::string("layout.schedule ") + to_string(l.schedule) +
                     ": the runtime runs gpipe, 1f1b, interleaved, zb-h1 and dualpipev; set one of them");
  // A split backward runs the graph twice (input gradient, then weights): ZeRO-2/3's per-layer
  // pre-backward nodes (gradient buffers, parameter re-gather) would run in both.
  const bool split_backward = l.schedule == Schedule::ZbH1 || l.schedule == Schedule::DualPipeV;
  if (split_backward && l.zero >= 2)
    errors.push_back(std::string("layout.zero ") + std::to_string(l.zero) + " with layout.schedule " +
                     to_string(l.schedule) + ": the runtime's split backward runs with ZeRO 0 or 1; "
                     "set layout.zero to 1 or the schedule to 1f1b");
  if (l.pp > 1 && l.schedule == Schedule::DualPipeV && m.layers % (2 * int64_t(l.pp)))
    errors.push_back("model.layers must be divisible by 2 * layout.pp for dualpipev (two chunks per stage)");
  if (l.virtual_stages > 1 && m.layers % (int64_t(l.pp) * l.virtual_stages))
    errors.push_back("model.layers must be divisible by layout.pp * layout.virtual_stages");
  if (l.virtual_stages > 1 && l.micro_batch > 0 && l.dp > 0 &&
      (t.global_batch / (int64_t(l.dp) * l.micro_batch)) % l.pp)
    errors.push_back("the interleaved schedule needs the micro-batches per step (train.global_batch / (dp * micro_batch)) divisible by layout.pp");
  if (l.sequence_parallel && l.tp > 1 && (t.seq_len / std::max(1, l.cp)) % l.tp)
    errors.push_back("layout.sequence_parallel needs train.seq_len / layout.cp divisible by layout.tp");
  // FP8, tiles and HSDP are priced by the cost model but not run: refused naming what does run.
  if (t.dtype == DType::FP8)
    errors.push_back("train.dtype fp8: the runtime has no FP8 GEMMs, it trains in fp32; set train.dtype fp32 "
                     "(bf16 and fp16 plans also run, in fp32, with a warning)");
  if (l.tiles > 1)
    errors.push_back("layout.tiles " + std::to_string(l.tiles) + ": the runtime has no tiled linear layers, it "
                     "runs each layer whole; set layout.tiles 1");
  if (l.shard_group > 0 && l.shard_group < l.dp)
    errors.push_back("layout.shard_group " + std::to_string(l.shard_group) + " of dp " + std::to_string(l.dp) +
                     " (HSDP): the runtime's ZeRO shards over the whole DP group; set layout.shard_group 0");
  if (l.first_stage_layers > 0 || l.last_stage_layers > 0)
    errors.push_back("layout.first_stage_layers / last_stage_layers (uneven stages) are not implemented by the runtime");
  if (l.offload != Offload::None) errors.push_back("layout.offload is not implemented by the runtime");
  if (l.activation_offload_layers > 0)
    errors.push_back("layout.activation_offload_layers is not implemented by the runtime; set it to 0");
  check_architecture(m, l.tp, errors);  // norms, positions, GQA, gated MLP (llama_layers.hpp)
  if (m.heads % l.tp) errors.push_back("model.heads must be divisible by layout.tp");
  if (m.ffn_hidden % l.tp) errors.push_back("model.ffn_hidden must be divisible by layout.tp");
  if (m.layers % l.pp) errors.push_back("model.layers must be divisible by layout.pp");
  if (m.tied_embeddings && l.pp > 1)
    errors.push_back("tied embeddings across pipeline stages are not implemented; set model.tied_embeddings false for pp > 1");
  if (t.global_batch % (int64_t(l.dp) * l.micro_batch))
    errors.push_back("train.global_batch must be divisible by dp * micro_batch");
  if (t.seq_len > m.max_seq_len) errors.push_back("train.seq_len exceeds model.max_seq_len");
  if (t.optimizer != Optimizer::Adam) errors.push_back("train.optimizer: the runtime implements adam only");
  if (errors.size() == 1) throw Error("the plan cannot be run: " + errors.front());  // one line
  if (!errors.empty()) {
    std::string msg = "the plan cannot be run:";
    for (auto& e : errors) msg += "\n  " + e;
    throw Error(msg);
  }
  if (t.dtype != DType::FP32)
    warnings.push_back(std::string("train.dtype ") + to_string(t.dtype) +
                       ": on the CPU the runtime trains in fp32 (on CUDA: autocast with fp32 master weights); "
                       "MFU is against the plan's cluster peak for that dtype");
  if (l.recompute != Recompute::None) warnings.push_back("layout.recompute is ignored by the runtime (no recomputation)");
  return warnings;
}

namespace {

struct Coords {
  int rank = 0, tp = 0, cp = 0, dp = 0, pp = 0;
};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::vector<MicroBatch> make_microbatches(const std::vector<uint16_t>& data,
                                          const std::vector<int64_t>& offsets, int64_t mb,
                                          int64_t T) {
  std::vector<MicroBatch> out;
  for (size_t i = 0; i < offsets.size(); i += size_t(mb)) {
    auto x = torch::empty({mb, T}, torch::kLong), y = torch::empty({mb, T}, torch::kLong);
    auto xa = x.accessor<int64_t, 2>(), ya = y.accessor<int64_t, 2>();
    for (int64_t b = 0; b < mb; ++b) {
      auto o = offsets[i + size_t(b)];
      for (int64_t k = 0; k < T; ++k) {
        xa[b][k] = data[size_t(o + k)];
        ya[b][k] = data[size_t(o + k + 1)];
      }
    }
    out.push_back({x.to(device()), y.to(device())});
  }
  return out;
}

}  // namespace

nlohmann::json train_rank(const RunOptions& o) {
  memory::install();  // counts every CPU tensor allocated from here on
  auto env = detect_rank_env(current_environment()).value_or(RankEnv{});
  Plan plan = load_plan(o.plan);
  check_runnable(plan, env.world_size);
  const auto L = plan.layout;
  const auto& M = plan.model;
  const auto& Tr = plan.training;

  validate_run_options(o);  // also here: torchrun/mpiexec/srun start ranks without the launcher
  int threads = o.threads > 0 ? int(o.threads)
                              : std::max(1, int(std::thread::hardware_concurrency()) /
                                                std::max(1, env.local_world_size));
  at::set_num_threads(threads);
  set_blas_threads(threads);  // OpenBLAS's pthread pool is not LibTorch's

  fault_point(FaultPoint::BeforeJoin, env.rank, 0);
  Communicator comm(comm_options(env, o.timeout_s, o.backend));  // NCCL: selects cuda:LOCAL_RANK as device(); Gloo: the CPU

  // Ranks in Megatron's order, tp fastest: rank = tp + TP * (cp + CP * (dp + DP * pp)).
  Coords c;
  c.rank = env.rank;
  c.tp = c.rank % L.tp;
  c.cp = (c.rank / L.tp) % L.cp;
  c.dp = (c.rank / (L.tp * L.cp)) % L.dp;
  c.pp = c.rank / (L.tp * L.cp * L.dp);
  auto rank_of = [&](int tp_i, int cp_i, int dp_i, int pp_i) {
    return tp_i + L.tp * (cp_i + L.cp * (dp_i + L.dp * pp_i));
  };
  std::vector<int> tp_r, cp_r, dp_r, dpcp_r, pp_r, ep_r, edp_r;
  for (int i = 0; i < L.tp; ++i) tp_r.push_back(rank_of(i, c.cp, c.dp, c.pp));
  for (int i = 0; i < L.cp; ++i) cp_r.push_back(rank_of(c.tp, i, c.dp, c.pp));
  for (int i = 0; i < L.dp; ++i) dp_r.push_back(rank_of(c.tp, c.cp, i, c.pp));
  for (int i = 0; i < L.dp; ++i)
    for (int j = 0; j < L.cp; ++j) dpcp_r.push_back(rank_of(c.tp, j, i, c.pp));
  for (int i = 0; i < L.pp; ++i) pp_r.push_back(rank_of(c.tp, c.cp, c.dp, i));
  // EP: ep consecutive DP ranks; the experts' data-parallel group: the same place in each.
  const int ep_n = M.is_moe() ? L.ep : 1;
  for (int i = 0; i < ep_n; ++i) ep_r.push_back(rank_of(c.tp, c.cp, c.dp / ep_n * ep_n + i, c.pp));
  for (int i = c.dp % ep_n; i < L.dp; i += ep_n) edp_r.push_back(rank_of(c.tp, c.cp, i, c.pp));
  auto tp = comm.new_group("tp", tp_r);
  auto cp = comm.new_group("cp", cp_r);
  auto dp = comm.new_group("dp", dp_r);
  auto pp = comm.new_group("pp", pp_r);
  // Gradients and ZeRO over dp x cp: each CP rank saw only its part of the sequence.
  auto dpcp = L.cp > 1 ? comm.new_group("dp_cp", dpcp_r) : nullptr;
  // The executor's schedule and the chunks it places per rank.
  const auto sched = L.schedule == Schedule::GPipe    ? PipeSchedule::GPipe
                     : L.schedule == Schedule::ZbH1     ? PipeSchedule::ZbH1
                     : L.schedule == Schedule::DualPipeV ? PipeSchedule::DualPipeV
                     : L.schedule == Schedule::Interleaved && L.virtual_stages > 1 ? PipeSchedule::Interleaved
                                                                                   : PipeSchedule::OneFOneB;
  const int vstages = chunks_per_rank(sched, sched == PipeSchedule::Interleaved ? L.virtual_stages : 1);
  auto pp_grad = vstages > 1 ? comm.new_group("pp_grad", pp_r) : nullptr;
  auto ep = comm.new_group("ep", ep_r);
  auto edp = M.is_moe() ? comm.new_group("expert_dp", edp_r) : nullptr;
  // GQA with tp > kv_heads: the TP ranks holding the same KV head (llama_layers.hpp kv_layout).
  const auto kvl = kv_layout(M.kv_heads > 0 ? M.kv_heads : M.heads, L.tp, c.tp);
  std::unique_ptr<Group> kv_rep;
  if (kvl.replicas > 1) {
    std::vector<int> kv_r;
    for (int i : kvl.replica_tp_ranks) kv_r.push_back(tp_r[size_t(i)]);
    kv_rep = comm.new_group("kv_replicas", kv_r);
  }
  auto& world = comm.world();
  // CUDA with a bf16 / fp16 plan: autocast over fp32 master weights (device.hpp).
  const bool autocast = (Tr.dtype == DType::BF16 || Tr.dtype == DType::FP16) &&
                        enable_cuda_autocast(Tr.dtype == DType::BF16);
  bool logger = c.rank == 0 && !o.quiet;
  const int n_stages = L.pp * vstages;
  // This rank holds the model's last stage (the head, the loss): rank pp - 1, or 0 under DualPipeV.
  bool last_stage = stage_holder(sched, L.pp, vstages, n_stages - 1).rank == c.pp;

  Dataset data = load_dataset(o.data);
  if (int64_t(data.vocab.size()) > M.vocab)
    throw Error("the data has " + std::to_string(data.vocab.size()) + " symbols but model.vocab is " +
                std::to_string(M.vocab));

  GptConfig gc;
  gc.layers = M.layers;
  gc.hidden = M.hidden;
  gc.heads = M.heads;
  gc.kv_heads = M.kv_heads > 0 ? M.kv_heads : M.heads;
  gc.head_dim = M.head_dim();
  gc.rms_norm = M.norm == parplan::Norm::RMSNorm;  // (runtime::Norm is the layer)
  gc.norm_bias = M.norm_bias;
  gc.qkv_bias = M.qkv_bias;
  gc.linear_bias = M.linear_bias;
  gc.gated_mlp = M.gated_mlp;
  gc.activation = M.activation;
  gc.rotary = M.position == Position::Rotary;
  gc.rope_base = M.rotary_base;
  gc.rope_scaling = M.rope_scaling;
  gc.rope_factor = M.rope_scaling_factor;
  gc.ffn_hidden = M.ffn_hidden;
  gc.vocab = M.vocab;
  gc.block_size = M.max_seq_len;
  gc.tied = M.tied_embeddings;
  gc.seed = o.seed;
  gc.sequence_parallel = L.sequence_parallel;
  gc.experts = M.moe.experts;
  gc.experts_per_token = M.moe.experts_per_token;
  gc.expert_ffn_hidden = M.moe.expert_ffn_hidden > 0 ? M.moe.expert_ffn_hidden : M.ffn_hidden;
  gc.moe_first_dense = M.moe.first_dense_layers;
  gc.moe_freq = M.moe.layer_freq;
  gc.router_bias = M.moe.router_bias;
  // This rank's chunk k is virtual stage k * pp + c.pp (one chunk unless interleaved), or the V
  // of DualPipeV (schedule.hpp virtual_stage).
  const int64_t per_chunk = M.layers / (int64_t(L.pp) * vstages);
  std::vector<GptStage> chunks;
  for (int k = 0; k < vstages; ++k) {
    const int vs = virtual_stage(sched, L.pp, c.pp, k);
    gc.first_layer = int64_t(vs) * per_chunk;
    gc.last_layer = gc.first_layer + per_chunk;
    gc.has_embedding = vs == 0;
    gc.has_head = vs == n_stages - 1;
    chunks.emplace_back(gc, ModelGroups{tp.get(), cp.get(), ep.get(), kv_rep.get()});
    chunks.back()->to(device());  // weights are drawn on the CPU (same on every layout), then placed
  }

  AdamConfig adam;
  adam.lr = o.lr > 0 ? o.lr : Tr.learning_rate;
  // One optimizer per chunk and kind, each on a process group of its own (its collectives run on
  // its own thread): chunk 0 uses the dp (or dp x cp) and expert-dp groups made above.
  Optimizers opt(vstages);
  std::vector<std::unique_ptr<Group>> chunk_groups;
  for (int k = 0; k < vstages; ++k) {
    torch::OrderedDict<std::string, torch::Tensor> dense, experts;
    for (auto& np : chunks[size_t(k)]->named_parameters())
      (is_expert_parameter(np.key()) ? experts : dense).insert(np.key(), np.value());
    Group* g = dpcp ? dpcp.get() : dp.get();
    if (k > 0) {
      chunk_groups.push_back(comm.new_group((dpcp ? "dp_cp.c" : "dp.c") + std::to_string(k), dpcp ? dpcp_r : dp_r));
      g = chunk_groups.back().get();
    }
    g->set_trace_tid(2);  // DP collectives run on their own thread: their own trace track
    const bool tied = gc.tied && chunks[size_t(k)]->cfg.has_embedding && chunks[size_t(k)]->cfg.has_head;
    opt.add(k, stage_units(dense, per_chunk, tied), g, L.zero, adam, o.bucket_mb * 1e6);
    if (!experts.is_empty()) {
      Group* e = edp.get();
      if (k > 0) {
        chunk_groups.push_back(comm.new_group("expert_dp.c" + std::to_string(k), edp_r));
        e = chunk_groups.back().get();
      }
      e->set_trace_tid(2);
      opt.add(k, stage_units(experts, per_chunk, false), e, L.zero, adam, o.bucket_mb * 1e6);
    }
    // ZeRO-3: per-layer gather/free; ZeRO-2/3: per-layer gradient buffers.
    chunks[size_t(k)]->hooks = opt.hooks(k);
  }
  opt.broadcast_from_first_rank();

  TraceRecorder trace;
  trace.rank = c.rank;
  PipelineStage stage(chunks, pp.get(), M.hidden, &trace, pp_grad.get(), sched);
  stage.after_backward = [&](int chunk, int) { opt.end_backward(chunk); };  // reduce what the hooks did not
  const int64_t B = Tr.global_batch, T = Tr.seq_len, mb = L.micro_batch;
  // Under CP each rank keeps its two chunks of every sequence (context_parallel.hpp).
  auto batches = [&](const std::vector<uint16_t>& split, const std::vector<int64_t>& offs) {
    auto mbs = make_microbatches(split, offs, mb, T);
    for (auto& b : mbs) b.x = cp_local_tokens(b.x, cp.get()), b.y = cp_local_tokens(b.y, cp.get());
    return mbs;
  };

  // Resume: the checkpoint's settings, sizes, checksums and this rank's identity are verified.
  const nlohmann::json settings = run_settings(o, plan, env.world_size);
  const RankIdentity identity{c.rank, env.world_size};
  int64_t start = check_checkpoint_dir(o, settings, false);
  if (start > 0) {
    opt.load_state(load_checkpoint(o.ckpt_dir, start, identity, settings));
    if (logger) std::cout << "resumed from " << o.ckpt_dir << " (step " << start << ")\n";
  } else if (o.resume && logger) {
    std::cout << "no checkpoint in " << o.ckpt_dir << "; starting from step 0\n";
  }

  auto world_sum = [&](double v) {
    auto t = torch::tensor({v}, torch::kFloat64);
    world.all_reduce(t);
    return t.item<double>();
  };
  auto loss_owner = last_stage && c.tp == 0;

  auto evaluate = [&](const std::vector<uint16_t>& split, uint64_t salt) {
    opt.gather_params();
    double total = 0;
    for (int64_t i = 0; i < o.eval_iters; ++i) {
      auto offs = rank_offsets(batch_offsets(o.seed + salt, i, B, T, int64_t(split.size())), L.dp, c.dp);
      total += stage.evaluate(batches(split, offs));
    }
    opt.release_params();
    return world_sum(loss_owner ? total / double(o.eval_iters) / (L.dp * L.cp) : 0.0);
  };

  const double model_flops = cost::step_flops(M, Tr, L).model;
  const double peak = plan.cluster.gpu.peak_flops(Tr.dtype);
  nlohmann::json losses = nlohmann::json::array(), times = nlohmann::json::array(),
                 evals = nlohmann::json::array(), dtfs = nlohmann::json::array(),
                 dtbs = nlohmann::json::array();
  int64_t trace_step = o.trace_step >= 0 ? o.trace_step : std::min(o.steps - 1, start + 2);
  double last_val = NAN;
  double overlap_traced_s = 0, overlap_hidden_s = 0, reduced_in_backward = 0;

  // Measured memory of the training steps (evaluation, checkpoints and sampling excluded):
  // live tensor bytes per phase and, since here, the peak RSS.
  const double setup_peak_tensor = double(memory::peak_tensor_bytes());
  const double rss_after_setup = memory::rss_bytes();
  const bool rss_reset = memory::reset_peak_rss();
  reset_device_peak_memory();
  double peak_fb = 0, peak_reduce = 0, peak_opt = 0, peak_rss = 0;
  auto phase_peak = [](double& into) {
    into = std::max(into, double(memory::peak_tensor_bytes()));
    memory::reset_peak();
  };

  for (int64_t step = start; step < o.steps; ++step) {
    trace.on = step == trace_step;
    if (trace.on) comm.set_trace(&trace);
    auto offs = rank_offsets(batch_offsets(o.seed, step, B, T, int64_t(data.train.size())), L.dp, c.dp);
    auto mbs = batches(data.train, offs);
    memory::reset_peak();
    auto t0 = Clock::now();
    opt.begin_step(int(mbs.size()));
    double loss = stage.train(mbs, sched);
    autocast_step_done();
    fault_point(FaultPoint::AfterTrainStep, c.rank, step);
    phase_peak(peak_fb);
    {
      TraceScope ts(trace.on ? &trace : nullptr, "gradient reduction (wait)", "compute");
      opt.finish_reduction();
    }
    phase_peak(peak_reduce);
    reduced_in_backward = opt.reduced_in_backward();
    {
      TraceScope ts(trace.on ? &trace : nullptr, "optimizer", "compute");
      opt.step();
    }
    phase_peak(peak_opt);
    peak_rss = memory::peak_rss_bytes();
    double mean_loss = world_sum(loss_owner ? loss / (L.dp * L.cp) : 0.0);
    if (!std::isfinite(mean_loss))  // every rank sees the same sum and stops here
      throw Error("step " + std::to_string(step) + ": the loss is " +
                  (std::isnan(mean_loss) ? "nan" : mean_loss > 0 ? "inf" : "-inf") +
                  " (training diverged) at learning rate " + fmt("%g", adam.lr) +
                  "; lower --lr (or train.learning_rate in the plan)");
    device_synchronize();  // CUDA: the step's kernels are done before the clock stops
    double dt = seconds_since(t0);
    if (trace.on) {
      comm.set_trace(nullptr);
      trace.on = false;
      std::tie(overlap_traced_s, overlap_hidden_s) = dp_overlap_seconds(trace.events);
    }
    losses.push_back(mean_loss);
    times.push_back(dt);
    dtfs.push_back(stage.forward_s);
    dtbs.push_back(stage.backward_s);
    if (logger && o.log_interval > 0 && (step % o.log_interval == 0 || step == o.steps - 1)) {
      double tok = double(B * T) / dt;
      std::cout << "step " << step << " | loss " << fmt("%.4f", mean_loss) << " | dt "
                << fmt("%.1f", dt * 1e3) << " ms | dtf " << fmt("%.1f", stage.forward_s * 1e3)
                << " ms | dtb " << fmt("%.1f", stage.backward_s * 1e3) << " ms | "
                << fmt("%.1f", double(B) / dt) << " samples/s | " << fmt("%.0f", tok)
                << " tokens/s | " << fmt("%.0f", tok / env.world_size) << " tokens/s/rank | mfu "
                << fmt("%.2f", 100 * model_flops / env.world_size / dt / peak) << "%\n"
                << std::flush;
    }
    bool do_eval = (o.eval_interval > 0 && (step + 1) % o.eval_interval == 0) || step == o.steps - 1;
    if (do_eval && o.eval_iters > 0) {
      double tl = evaluate(data.train, 1), vl = evaluate(data.val, 2);
      last_val = vl;
      evals.push_back({{"step", step + 1}, {"train_loss", tl}, {"val_loss", vl}});
      if (logger)
        std::cout << "eval step " << step + 1 << " | train loss " << fmt("%.4f", tl)
                  << " | val loss " << fmt("%.4f", vl) << "\n" << std::flush;
    }
    if (!o.ckpt_dir.empty() && o.ckpt_interval > 0 &&
        ((step + 1) % o.ckpt_interval == 0 || step == o.steps - 1)) {
      fault_point(FaultPoint::BeforeCheckpoint, c.rank, step + 1);
      save_checkpoint(o.ckpt_dir, step + 1, identity, opt.state(), settings, [&] { world.barrier(); });
    }
  }

  // CUDA: the caching allocator's peak over the training steps (evaluation runs without grads).
  const DeviceMemory dev_mem = device_memory();

  // A sample from the prompt (every rank takes part: the pipeline needs all stages).
  std::string sample;
  if (o.sample_tokens > 0) {
    opt.gather_params();
    auto ctx = encode(data, o.prompt);
    std::vector<int64_t> toks(ctx.begin(), ctx.end());
    if (toks.empty()) toks.push_back(0);
    auto gen = at::detail::createCPUGenerator(o.seed);
    for (int64_t n = 0; n < o.sample_tokens; ++n) {
      auto input = torch::zeros({1, T}, torch::kLong);
      int64_t len = std::min<int64_t>(int64_t(toks.size()), T);
      auto ia = input.accessor<int64_t, 2>();
      for (int64_t k = 0; k < len; ++k) ia[0][k] = toks[toks.size() - size_t(len) + size_t(k)];
      // Under CP the rank holding position len - 1 answers.
      auto [owner, local_pos] = cp_owner(len - 1, T, L.cp);
      auto logits = stage.logits_at(cp_local_tokens(input.to(device()), cp.get()), local_pos);
      double next = 0;
      if (loss_owner && c.dp == 0 && c.cp == owner)
        next = double(torch::multinomial(logits.cpu().softmax(-1), 1, false, gen).item<int64_t>());
      toks.push_back(int64_t(world_sum(next)));
    }
    opt.release_params();
    sample = decode(data, std::vector<int64_t>(toks.begin() + long(ctx.size()), toks.end()));
    if (logger) std::cout << "sample:\n" << o.prompt << sample << "\n---\n";
  }

  // Model-state bytes each rank holds (computed from its buffers), and what was measured.
  auto held = opt.held_bytes_computed();
  if (!rss_reset) {  // no clear_refs: the lifetime peak
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    peak_rss = double(ru.ru_maxrss) * 1024.0;
  }
  const double peak_tensor = std::max({peak_fb, peak_reduce, peak_opt});
  constexpr int kStats = 14;
  auto mine = torch::tensor({held.params, held.grads, held.optimizer, peak_rss,
                             dev_mem.peak_allocated_bytes, dev_mem.peak_reserved_bytes, peak_tensor,
                             peak_fb, peak_reduce, peak_opt, setup_peak_tensor, rss_after_setup,
                             overlap_traced_s, overlap_hidden_s},
                            torch::kFloat64);
  auto all = torch::empty({kStats * env.world_size}, torch::kFloat64);
  world.all_gather(all, mine);

  auto trace_dir = o.trace_dir;
  if (trace_dir.empty() && !o.out.empty()) trace_dir = fs::path(o.out).replace_extension("trace").string();
  if (!trace_dir.empty() && !trace.events.empty()) {
    std::error_code ec;
    fs::create_directories(trace_dir, ec);
    if (ec) throw EnvironmentError("cannot create the trace directory " + trace_dir + ": " + ec.message());
    write_file_atomic((fs::path(trace_dir) / ("trace_rank" + std::to_string(c.rank) + ".json")).string(),
                      trace.to_json().dump() + "\n");
  }
  world.barrier();
  if (c.rank != 0) return {};

  double mean = 0;
  int64_t counted = 0;
  for (size_t i = 0; i < times.size(); ++i)
    if (i > 0 || times.size() == 1) {  // the first step warms up allocators and connections
      mean += times[i].get<double>();
      ++counted;
    }
  mean /= double(std::max<int64_t>(1, counted));
  // On a shared machine the median and the minimum show what the layout costs without others'
  // load; the mean is what this run took.
  std::vector<double> sorted;
  for (size_t i = times.size() > 1 ? 1 : 0; i < times.size(); ++i) sorted.push_back(times[i].get<double>());
  std::sort(sorted.begin(), sorted.end());
  double median = sorted[sorted.size() / 2], fastest = sorted.front();
  nlohmann::json peak_bytes = nlohmann::json::array(), rss = nlohmann::json::array(),
                 states = nlohmann::json::array(), reserved = nlohmann::json::array(),
                 tensor_peak = nlohmann::json::array(), phases = nlohmann::json::array(),
                 setup = nlohmann::json::array(), overlap = nlohmann::json::array();
  auto a = all.accessor<double, 1>();
  for (int r = 0; r < env.world_size; ++r) {
    const int k = kStats * r;
    // CUDA: what the caching allocator handed out at its peak (all of the rank's tensors); CPU:
    // the measured high-water mark of live tensor bytes (the counting CPU allocator).
    peak_bytes.push_back(dev_mem.valid ? a[k + 4] : a[k + 6]);
    states.push_back({{"params", a[k]}, {"grads", a[k + 1]}, {"optimizer", a[k + 2]}});
    rss.push_back(a[k + 3]);
    reserved.push_back(a[k + 5]);
    tensor_peak.push_back(a[k + 6]);
    phases.push_back({{"forward_backward", a[k + 7]}, {"gradient_reduction", a[k + 8]},
                      {"optimizer", a[k + 9]}});
    setup.push_back({{"peak_tensor_bytes", a[k + 10]}, {"rss_bytes", a[k + 11]}});
    overlap.push_back({{"dp_comm_s", a[k + 12]}, {"during_backward_s", a[k + 13]}});
  }
  double tokens_per_s = double(B * T) / mean;
  nlohmann::json plan_json = to_json(plan);
  nlohmann::json out = {
      {"plan", plan_json},
      {"layout", describe(L)},
      {"backend", comm.backend()},
      {"backend_note", [&] {
         std::string why;
         return nccl_usable(&why, env.local_rank) ? std::string("NCCL on cuda:LOCAL_RANK") : why;
       }()},
      {"device", device().str()},
      {"precision", autocast ? std::string(to_string(Tr.dtype)) + " autocast, fp32 master weights and gradients"
                             : std::string("fp32")},
      {"nproc", env.world_size},
      {"threads_per_rank", threads},
      {"blas", blas_info()},
      {"first_step", start},
      {"steps", o.steps},
      {"mean_step_time_s", mean},
      {"median_step_time_s", median},
      {"min_step_time_s", fastest},
      {"step_times_s", times},
      {"forward_times_s", dtfs},
      {"backward_times_s", dtbs},
      {"samples_per_s", double(B) / mean},
      {"tokens_per_s", tokens_per_s},
      {"tokens_per_s_per_rank", tokens_per_s / env.world_size},
      {"mfu", model_flops / env.world_size / mean / peak},
      {"loss", losses},
      {"evals", evals},
      {"val_loss", last_val},
      // Measured over the training steps: CPU the peak of live tensor bytes, CUDA the allocator's.
      {"peak_memory_bytes", peak_bytes},
      {"memory_kind", dev_mem.valid ? "cuda_peak_allocated" : "cpu_peak_tensor_bytes"},
      {"peak_tensor_bytes", tensor_peak},
      {"peak_tensor_bytes_by_phase", phases},
      {"peak_rss_bytes", rss},
      {"peak_rss_note", rss_reset ? "VmHWM over the training steps (reset after setup)"
                                  : "ru_maxrss over the whole process"},
      {"setup_memory", setup},
      {"model_state_bytes_computed", states},
      // One traced step: DP collectives' time and the part of it during backward compute.
      {"dp_overlap", overlap},
      {"dp_buckets_reduced_during_backward", reduced_in_backward},
      {"cuda_peak_reserved_bytes", dev_mem.valid ? reserved : nlohmann::json(nullptr)},
      {"sample", sample},
      {"data", o.data},
      {"seed", o.seed},
  };
  if (!o.out.empty()) {
    write_file_atomic(o.out, out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  return out;
}

}  // namespace parplan::runtime
