#pragma once
// The parallel layout: the unit the planner searches (docs/design.md "Inputs").
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

enum class Recompute : uint8_t { None, Selective, Full };
// Megatron-Core's selective recomputation by module (--recompute-granularity selective
// --recompute-modules; Megatron-LM@b0cc270 transformer_config.py recompute_modules): bit flags.
// core_attn: the attention core (Korthikanti et al. 2022); moe_act: the routed experts'
// activation; layernorm: the input and pre-MLP norms; mla_up_proj: MLA's Q / KV up-projections and
// RoPE; mlp: the dense MLP; moe: the whole MoE layer; shared_experts: the MoE's shared experts.
enum RecomputeModule : uint8_t {
  kRecomputeCoreAttn = 1,
  kRecomputeMoeAct = 2,
  kRecomputeLayernorm = 4,
  kRecomputeMlaUpProj = 8,
  kRecomputeMlp = 16,
  kRecomputeMoe = 32,
  kRecomputeSharedExperts = 64,
};
// Pipeline schedules (cost/pipeline.hpp has their bubbles and memory): GPipe, 1F1B, interleaved
// 1F1B; zero-bubble ZB-H1 and ZB-V (Qi et al. 2024, arXiv:2401.10241: backward split into input
// and weight gradients; ZB-V places two chunks per stage in a V); DualPipe (DeepSeek-V3 report
// sec. 3.2.1: bidirectional, two stages per GPU) and DualPipeV (its V-shaped half: two chunks per
// GPU, deepseek-ai/DualPipe). The V schedules keep virtual_stages = 1: their two chunks are implied.
enum class Schedule : uint8_t { GPipe, OneFOneB, Interleaved, ZbH1, ZbV, DualPipe, DualPipeV };
enum class Offload : uint8_t { None, Optimizer, OptimizerAndParams };
enum class OffloadDevice : uint8_t { Cpu, Nvme };  // ZeRO-Offload (host RAM) or ZeRO-Infinity
// Context parallelism: ring attention (Megatron CP, Liu et al. 2023), all-to-all over heads
// (DeepSpeed Ulysses, Jacobs et al. 2023), or both (USP, Fang & Zhao 2024: Ulysses inside a node,
// ring across).
enum class CpKind : uint8_t { Ring, Ulysses, Usp };

struct Layout {
  int32_t dp = 1, tp = 1, pp = 1, cp = 1;
  int32_t micro_batch = 1;
  int32_t zero = 0;  // ZeRO stage 0..3 over the DP group
  Recompute recompute = Recompute::None;
  bool sequence_parallel = false;
  Schedule schedule = Schedule::OneFOneB;
  int32_t virtual_stages = 1;  // interleaved 1F1B model chunks per stage
  Offload offload = Offload::None;
  OffloadDevice offload_device = OffloadDevice::Cpu;
  CpKind cp_kind = CpKind::Ring;
  int32_t ulysses = 0;  // USP: the Ulysses share of cp (cp = ulysses * ring); 0: derive (node)
  // Expert parallelism (MoE layers only): experts split over ep ranks, each expert's FFN over etp.
  // Megatron-Core "MoE parallel folding": ep * etp divides tp * cp * dp, so gpus() is unchanged.
  int32_t ep = 1, etp = 1;
  // ZeRO-3 / FSDP sharding group (HSDP): shard inside groups of this many DP ranks, replicate
  // across them. 0 (or dp): the whole DP group.
  int32_t shard_group = 0;
  // DeepSpeed memory-centric tiling: large linear layers run in `tiles` sequential pieces.
  int32_t tiles = 1;
  // Uneven pipeline stages as Megatron expresses them (--decoder-first/last-pipeline-num-layers):
  // layers on the first and last stage; 0: the even (ceil) split.
  int32_t first_stage_layers = 0, last_stage_layers = 0;
  // Activation offloading (Megatron-Core cpu_offloading_num_layers, Transformer Engine's CPU
  // offload): the saved activations of this many transformer layers of a stage go to host memory
  // after their forward and come back before their backward. 0: none.
  int32_t activation_offload_layers = 0;
  // With recompute selective: the RecomputeModule bits Megatron-Core recomputes; 0 is its default,
  // core_attn alone (stored as 0, so "selective" and ["core_attn"] are the same layout). Last,
  // so positional Layout{...} initialisers keep their order.
  uint8_t recompute_modules = 0;

  int64_t gpus() const { return int64_t(dp) * tp * pp * cp; }
  int32_t shard_size() const { return shard_group > 0 ? shard_group : dp; }
  bool operator==(const Layout&) const = default;
};

struct Model;
struct Cluster;
struct Training;

// Field checks alone (positive degrees, known enums).
void validate(const Layout& l, Diagnostics& d, const std::string& prefix = "layout");
// Checks against the inputs: divisibility (heads by tp, layers by pp*v, batch by dp*mb, sequence
// by cp and tp under SP), GPU count within the cluster.
void validate(const Layout& l, const Model& m, const Cluster& c, const Training& t, Diagnostics& d,
              const std::string& prefix = "layout");

Layout layout_from_json(const nlohmann::json& j, Diagnostics& d,
                        const std::string& prefix = "layout");
nlohmann::json to_json(const Layout& l);
std::string describe(const Layout& l);  // "dp=16 tp=8 pp=8 cp=1 mb=1 zero=1 rc=selective sp ..."

const char* to_string(Recompute r);
const char* to_string(Schedule s);
const char* to_string(Offload o);
const char* to_string(OffloadDevice o);
const char* to_string(CpKind k);
bool parse_recompute(const std::string& s, Recompute& out);
// The modules a layout recomputes: 0 unless recompute is selective, core_attn for selective alone.
uint8_t recomputed_modules(const Layout& l);
inline bool recomputes(const Layout& l, RecomputeModule m) { return (recomputed_modules(l) & m) != 0; }
bool parse_recompute_module(const std::string& s, RecomputeModule& out);
const char* to_string(RecomputeModule m);
// "mla_up_proj,moe_act" (Megatron's order: core_attn, moe_act, layernorm, mla_up_proj, mlp, moe,
// shared_experts); "" for none.
std::string recompute_modules_list(uint8_t modules);
inline constexpr const char* kRecomputeModuleNames =
    "core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, shared_experts";
bool parse_schedule(const std::string& s, Schedule& out);
bool parse_offload(const std::string& s, Offload& out);
bool parse_offload_device(const std::string& s, OffloadDevice& out);
bool parse_cp_kind(const std::string& s, CpKind& out);

}  // namespace parplan
