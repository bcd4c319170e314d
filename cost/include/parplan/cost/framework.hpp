#pragma once
// What the framework that runs a plan does, as data (examples/frameworks/<name>.json, documented
// in docs/cost-model.md "Frameworks"): how ZeRO-3 / FSDP gathers parameters and reduces
// gradients, over which ring, and what overlaps with what by default. The cost model reads these
// behaviours; it never branches on a framework's name.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"
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
  // Gradient reduction: elements per bucket (0: one reduce-scatter per gather unit, FSDP) and the
  // bytes per element it reduces in (0: the gradient accumulation dtype).
  double grad_bucket_elements = 25e6;
  double grad_reduce_bytes = 0;
  // DP collectives as one flat ring over the whole DP group (each hop at one GPU's NIC share),
  // instead of NCCL's choice among ring, tree and the multi-NIC (hierarchical) pattern.
  bool dp_flat_ring = false;
  // Defaults of the overlap switches (Training::tp_comm_overlap, ...) when left at Default.
  bool tp_comm_overlap = false;
  bool overlap_grad_reduce = false;
  bool overlap_param_gather = false;
};

// The behaviours of the training setup's framework: a preset name (megatron-core,
// megatron-deepspeed, deepspeed, fsdp2; "" is megatron-core) or a path to a framework JSON file.
// Parsed once per name and cached. Throws parplan::Error naming train.framework when unknown.
const FrameworkBehaviour& framework_behaviour(const Training& t);
FrameworkBehaviour framework_from_json(const nlohmann::json& j, Diagnostics& d,
                                       const std::string& prefix = "framework");
std::vector<std::string> framework_names();

// A switch resolved against the framework's default.
inline bool resolve(Switch s, bool framework_default) {
  return s == Switch::Default ? framework_default : s == Switch::On;
}

}  // namespace parplan::cost
