#pragma once
// What the framework that runs a plan does, as data (examples/frameworks/<name>.json, documented
// in docs/cost-model.md "Frameworks"): how ZeRO-3 / FSDP gathers parameters and reduces
// gradients, over which ring, and what overlaps with what by default. The cost model reads these
// behaviours; it never branches on a framework's name.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

struct FrameworkBehaviour {
  std::string name;
  std::string source;  // where the behaviours below come from (code and commit, docs)
  // ZeRO-3 / FSDP parameter all-gathers: one collective per gather unit (module or FSDP unit) in
  // forward, again in backward when the gathered copy is freed after forward, issued
  // `prefetch_depth` units ahead on a separate stream.
  int zero3_gathers_per_layer = 1;
  bool zero3_regather_in_backward = true;
  int zero3_prefetch_depth = 1;
  // Parameters the prefetch may hold in flight (DeepSpeed stage3_prefetch_bucket_size); a gather
  // unit larger than this is fetched only when its module runs. 0: no limit.
  double zero3_prefetch_elements = 0;
  bool zero3_overlap_grad_reduce = true;  // ZeRO-3's gradient reduce-scatter overlaps backward
  // Under pipeline parallelism the layers stay gathered across the step's micro-batches: gathered
  // once (first forward), gradients reduce-scattered once (last backward); torchtitan sets
  // reshard_after_forward=False with PP and torch.distributed.pipelining syncs gradients only on
  // the last backward.
  bool zero3_gather_once_with_pp = false;
  // Gradient reduction: elements per bucket (0: one reduce-scatter per gather unit, FSDP) and the
  // bytes per element it reduces in (0: the gradient accumulation dtype).
  double grad_bucket_elements = 25e6;
  double grad_reduce_bytes = 0;
  // DP collectives as one flat ring over the whole DP group (each hop at one GPU's NIC share),
  // instead of NCCL's choice among ring, tree and the multi-NIC (hierarchical) pattern.
  bool dp_flat_ring = false;
  // Elementwise ops as the framework runs them without torch.compile: forward HBM bytes per
  // element of each op's 16-bit tensor, as its eager kernels read and write it (upcasts to fp32
  // included); backward moves twice as much, as for the fused kernels. has_eager false: the
  // framework's kernels are fused whether or not it compiles (Megatron-Core: Transformer Engine,
  // Apex), so the fused counts of compute.cpp apply.
  struct EagerElementwise {
    bool has_eager = false;
    double rmsnorm = 4, layernorm = 4;            // per element of the normalised stream
    double gated_activation = 6, activation = 4;  // per element of the MLP's hidden (f) tensor
    double rope = 4;                               // per element of Q and K
    // Cross-entropy's HBM bytes per logit (forward + backward, fp32 math); the fused
    // vocab-parallel kernel's 16 (compute.cpp logits_time) unless the framework states its own.
    double cross_entropy = 16;
  } eager;
  // Eager standard attention (no flash kernel): element reads + writes per attention score of
  // the passes between the two matmuls, and the bytes of mask read per score. Default: one fused
  // scale-mask-softmax (read, write) and dropout (read, write, 1-byte mask).
  double softmax_accesses = 4, softmax_mask_bytes = 1;
  // Grouped-query attention: K and V are expanded to every query head in memory before
  // scaled_dot_product_attention (torchtitan repeat_kv), compiled or not.
  bool repeat_kv_copy = false;
  // The loss is all-reduced over every rank at the end of each step, blocking the host (a CPU
  // runtime's world_sum; GPU frameworks reduce it on the stream): charged as "launch and latency".
  bool loss_all_reduce = false;
  // Activations a layer keeps for its backward (memory.cpp layer_activation_bytes), counted in
  // tensors of the size named. Defaults: Megatron-LM's fused layer (Korthikanti et al. 2022
  // sec. 4.1): a norm keeps its input and output (2 stream-sized tensors), the MLP its FC1
  // output(s) and the activation output, attention Q, K, V and the projection input and the
  // softmax output with its dropout mask, and two 1-byte dropout masks per stream element.
  // An eager framework's autograd keeps more (examples/frameworks/parplan-runtime.json).
  struct Saved {
    double rmsnorm = 2, layernorm = 2;  // stream-sized tensors per norm
    double mlp = 2, gated_mlp = 3;      // f-sized tensors of the MLP
    double rope_extra = 0;              // copies of Q and K an eager rotary keeps besides them
    bool repeat_kv = false;             // K and V kept expanded to every query head
    double scores_elements = 2;         // score-sized tensors kept (e bytes each) ...
    double scores_mask_bytes = 1;       // ... and bytes of mask per score
    double stream_mask_bytes = 2;       // dropout masks per stream element (bytes)
    // Stream-sized (hidden) tensors kept per routed MoE row for the combine: the expert output,
    // which the backward of its router-probability weighting needs (1); 0 where the probabilities
    // are applied inside the expert's activation and the combine is an unweighted scatter-add.
    double moe_expert_output = 1;
    // Bytes per logit held at the loss's backward (memory.cpp buffers): the fp32 logits and their
    // fp32 gradient of the vocab-parallel cross-entropy (8); a loss kernel that keeps the 16-bit
    // logits and writes a 16-bit gradient holds 4.
    double logits = 8;
  } saved;
  // Gradient reductions per layer (one per layer and micro-batch) from this ZeRO stage on,
  // instead of buckets of grad_bucket_elements; 0: buckets at every stage.
  int grad_per_layer_from_zero = 0;
  int grad_units_besides_layers = 0;  // ... and that many more units (embedding, head) per step
  // With CP: gradients summed, and ZeRO's states sharded, over the DP x CP group (sharding.hpp
  // states_over_cp); false: over the DP group only.
  bool grad_reduce_over_cp = false;
  // What selective recomputation recomputes. Megatron-LM: the attention core (Korthikanti et al.
  // 2022). torchtitan op-level SAC: every second aten.mm of a block and every elementwise op,
  // the attention core saved; FP8 GEMMs (torch._scaled_mm) are not in its save list, so all of
  // them are recomputed.
  bool selective_recomputes_attention = true;
  bool selective_recomputes_every_second_mm = false;
  bool selective_recomputes_elementwise = false;
  bool selective_recomputes_fp8_gemms = false;
  bool compile = false;  // default of Training::compile
  // The flash attention kernel's share of the dense 16-bit peak on its computed (causal) FLOPs,
  // per GPU generation, where published; absent: the GEMM shape model (compute.cpp).
  std::map<std::string, double> attention_efficiency;
  // The same kernel's backward share of the peak (on its 2.5x FLOPs), where published; absent:
  // the forward's.
  std::map<std::string, double> attention_bwd_efficiency;
  // Ring attention as the framework runs it (the JSON's "context_parallel";
  // cost/context_parallel.cpp, docs/cost-model.md "Context parallelism"). Defaults: Megatron-Core
  // with Transformer Engine's P2P ring (K, V passed one block per step, merges fused).
  struct ContextParallel {
    // K, V of every CP rank all-gathered once per attention pass (forward; again in backward)
    // while only the first, local block computes; false: passed on one block per ring step.
    bool kv_all_gather = false;
    double grad_bytes = 0;  // bytes per element of the dK, dV passed on in backward (0: dtype)
    // The backward passes K, V around the ring again with dK, dV (Transformer Engine's
    // AttnFuncWithCPAndKVP2P and PyTorch CP keep no received block); false: dK, dV alone (an
    // autograd that saved the received blocks: parplan's runtime).
    bool backward_resends_kv = true;
    // The ring passes the KV heads unrepeated although the framework expands them for its
    // attention (repeat_kv_copy): parplan's runtime expands each received block locally.
    bool kv_unrepeated = false;
    // HBM bytes per element and ring step after the first, as the framework's ops move them:
    // merging the block's output into the running output and log-sum-exp (per element of the
    // local output), accumulating dQ (per element of Q) and dK, dV with packing them for the send
    // (per element of the K, V block), packing K, V for the send (per element of the block,
    // forward and backward). Eager; under torch.compile `compiled` (< 0: as eager).
    struct Passes {
      double fwd_out = 0, bwd_q = 0, bwd_kv = 0, kv_pack = 0;
    };
    Passes eager, compiled{-1, -1, -1, -1};
  } cp;
  // TP communication overlap hides backward collectives too (Megatron/TE userbuffers: dgrad and
  // wgrad GEMMs); false: only the forward graph is micro-pipelined (torchtitan async TP).
  bool tp_overlap_backward = true;
  // Pipeline schedules the framework runs (examples/frameworks/*.json "pipeline_schedules"; the
  // planner searches only these). Absent: GPipe, 1F1B and interleaved 1F1B.
  std::vector<Schedule> pipeline_schedules = {Schedule::GPipe, Schedule::OneFOneB,
                                              Schedule::Interleaved};
  bool runs(Schedule s) const {
    for (Schedule k : pipeline_schedules)
      if (k == s) return true;
    return false;
  }
  // Defaults of the overlap switches (Training::tp_comm_overlap, ...) when left at Default.
  bool tp_comm_overlap = false;
  bool overlap_grad_reduce = false;
  bool overlap_param_gather = false;

  // Eager operators of one layer as the framework issues them, each costing the host the
  // cluster's gpu.op_overhead_us (cost/host_overhead.cpp; a CPU cluster from `parplan calibrate`).
  // Per component of the model, forward; the backward issues backward_per_forward per forward
  // operator. Absent from the JSON ("eager_ops"): no operator is counted.
  struct EagerOps {
    bool counted = false;
    double layernorm = 0, rmsnorm = 0;  // per norm (2 per layer)
    double linear = 0, bias_add = 0;    // per linear; per row-parallel bias (2 per layer)
    double attention_core = 0, merge_heads = 0, activation = 0, gated_product = 0,
           residual_add = 0, rotary = 0, gqa_copy = 0;
    double backward_per_forward = 2;
    double tp_collective = 0;  // autograd functions around each of the 4 TP collectives
    double sp_grad_sum = 0;    // under sequence parallelism (norm and bias gradients)
    // Ring attention over cp blocks, instead of attention_core: per block, per ring shift, fixed.
    double cp_per_block = 0, cp_per_shift = 0, cp_fixed = 0;
    // MoE layer, instead of the MLP: router, sorting, per local expert, combine; with EP > 1 the
    // counts exchange and all-to-alls, and the experts' gradient scaling.
    double moe_router = 0, moe_sort = 0, moe_per_expert = 0, moe_combine = 0, moe_ep_exchange = 0,
           moe_ep_grad_scale = 0;
    double embedding = 0, head = 0;        // forward, per micro-batch
    double sp_embedding = 0, sp_head = 0;  // more under sequence parallelism
  } ops;
  // The kernels the framework launches and what each costs its host (the JSON's "kernels" and
  // "host"; cost/floors.hpp, docs/cost-model.md "Floors"). Counts per layer and micro-batch.
  struct Kernels {
    double dense_fwd = 0, dense_bwd = 0;          // a dense layer, as the framework runs it
    double compiled_fwd = -1, compiled_bwd = -1;  // under torch.compile (< 0: as above)
    double selective_recompute = 0;               // rerun by selective recomputation
    double per_tp_collective = 0;   // extra kernels around each TP collective (copies, mappings)
    double per_cp_step = 0;         // ring attention: per extra KV block, forward (bwd 2x)
    double fp8_fwd_per_linear = 0, fp8_bwd_per_linear = 0;  // casts, amax, transposes
    double fp8_current_per_linear = 0;  // current scaling's amax pass, fwd and bwd each
    double moe_fwd = 0, moe_bwd = 0;    // router, top-k, permute/unpermute, dispatcher, aux loss
    double moe_per_expert_fwd = 0, moe_per_expert_bwd = 0;  // per local expert (0: grouped GEMM)
    double moe_fp8_per_expert_fwd = 0, moe_fp8_per_expert_bwd = 0;  // FP8 casts per local expert
    double moe_host_syncs = 0;  // device-to-host syncs per MoE layer forward (split sizes)
    double embedding = 0, head = 0;  // forward kernels of the embedding and of norm+head+loss
    // Python module and autograd-Function calls per layer and pass (TE modules, Megatron's
    // dispatcher Functions), each paying host.module_call_s beyond its kernels; a MoE layer adds
    // moe_modules_* to the dense layer's.
    double modules_fwd = 0, modules_bwd = 0, moe_modules_fwd = 0, moe_modules_bwd = 0;
    // What a CUDA-graph scope (Training.cuda_graph_scope) takes off the host, per layer and pass:
    // its kernels and module calls (moe: per MoE layer), replaced by one graph launch.
    struct GraphScope {
      double fwd = 0, bwd = 0, modules_fwd = 0, modules_bwd = 0;
      bool moe = false;
    };
    std::vector<std::pair<std::string, GraphScope>> graph_scopes;
  } kernels;
  struct Host {
    double dispatch_fwd_s = 0;  // per forward kernel: Python, operator dispatch, autograd record
    double dispatch_bwd_s = 0;  // per backward kernel: the autograd engine's node
    double collective_s = 0;    // per collective call: the c10d / framework wrapper
    // A Python loop over the local experts around each grouped GEMM (TE GroupedLinear): host
    // time per item (a Python method or pybind11 object per expert: the prior; the corpus fit
    // moves it, floors.cpp expert_loop_s), the grouped-GEMM calls of a MoE layer per pass, and
    // the items per local expert and call in each pass, FP8 (quantized tensors) and 16-bit.
    // 0: no loop.
    double expert_loop_s = 0;
    double expert_loop_calls = 0;
    double expert_loop_items_fwd = 0, expert_loop_items_bwd = 0;
    double expert_loop_items_fwd_16bit = 0, expert_loop_items_bwd_16bit = 0;
    // Host time per module call and pass (kernels.modules_*): the prior; the corpus fit moves it
    // (floors.cpp module_call_s). 0: not counted.
    double module_call_s = 0;
    bool cuda_graphs = false;   // layers captured as CUDA graphs: one launch per layer and pass
    // The data-parallel wrapper hooks every parameter tensor per micro-batch (Megatron DDP's
    // backward post-hooks; forward pre-hooks with overlapped parameter gathers): floors.cpp.
    bool param_hooks = false;
  } host;
};

// The behaviours of the training setup's framework: a preset name (megatron-core,
// megatron-deepspeed, deepspeed, fsdp2, llm-foundry; "" is megatron-core) or a path to a framework
// JSON file. A file with "extends": "<preset or path>" is merged onto that framework's JSON (RFC
// 7386 merge patch: it states only what differs). Parsed once per name and cached. Throws
// parplan::Error naming train.framework when unknown (or .extends when its base is).
const FrameworkBehaviour& framework_behaviour(const Training& t);
FrameworkBehaviour framework_from_json(const nlohmann::json& j, Diagnostics& d,
                                       const std::string& prefix = "framework");
std::vector<std::string> framework_names();

// Whether the layers' elementwise ops run as the framework's eager kernels (no torch.compile).
bool eager_elementwise(const Training& t);

// A switch resolved against the framework's default.
inline bool resolve(Switch s, bool framework_default) {
  return s == Switch::Default ? framework_default : s == Switch::On;
}

}  // namespace parplan::cost
