#include "parplan/cost/framework.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"

namespace parplan::cost {

namespace {
template <class T>
void read(const nlohmann::json& j, const char* key, T& out, Diagnostics& d, const std::string& p,
          double lo, double hi) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return d.error(p + "." + key, "must be true or false");
    out = v.get<bool>();
  } else {
    if (!v.is_number() || v.get<double>() < lo || v.get<double>() > hi)
      return d.error(p + "." + key, "must be a number in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "]");
    out = static_cast<T>(v.get<double>());
  }
}
double dtype_bytes(const std::string& s) {
  if (s == "fp32") return 4;
  if (s == "bf16" || s == "fp16") return 2;
  return -1;
}
}  // namespace

FrameworkBehaviour framework_from_json(const nlohmann::json& j, Diagnostics& d,
                                       const std::string& p) {
  FrameworkBehaviour f;
  if (!j.is_object()) {
    d.error(p, "must be a JSON object (see examples/frameworks/)");
    return f;
  }
  if (j.contains("name") && j["name"].is_string()) f.name = j["name"].get<std::string>();
  if (j.contains("source") && j["source"].is_string()) f.source = j["source"].get<std::string>();
  if (j.contains("zero3")) {
    const auto& z = j["zero3"];
    const std::string q = p + ".zero3";
    read(z, "gathers_per_layer", f.zero3_gathers_per_layer, d, q, 1, 64);
    read(z, "overlap_grad_reduce", f.zero3_overlap_grad_reduce, d, q, 0, 1);
    read(z, "regather_in_backward", f.zero3_regather_in_backward, d, q, 0, 1);
    read(z, "prefetch_depth", f.zero3_prefetch_depth, d, q, 0, 64);
    read(z, "prefetch_elements", f.zero3_prefetch_elements, d, q, 0, 1e15);
    read(z, "gather_once_with_pp", f.zero3_gather_once_with_pp, d, q, 0, 1);
  }
  if (j.contains("grad_reduce")) {
    const auto& g = j["grad_reduce"];
    const std::string q = p + ".grad_reduce";
    read(g, "bucket_elements", f.grad_bucket_elements, d, q, 0, 1e12);
    read(g, "per_layer_from_zero_stage", f.grad_per_layer_from_zero, d, q, 0, 3);
    read(g, "units_besides_layers", f.grad_units_besides_layers, d, q, 0, 16);
    read(g, "over_context_parallel", f.grad_reduce_over_cp, d, q, 0, 1);
    if (g.contains("dtype")) {
      const std::string s = g["dtype"].is_string() ? g["dtype"].get<std::string>() : "";
      if (s == "grad") f.grad_reduce_bytes = 0;
      else if (dtype_bytes(s) > 0) f.grad_reduce_bytes = dtype_bytes(s);
      else d.error(q + ".dtype", "unknown value; use grad, fp32, bf16 or fp16");
    }
  }
  if (j.contains("dp_ring")) {
    const std::string s = j["dp_ring"].is_string() ? j["dp_ring"].get<std::string>() : "";
    if (s == "flat") f.dp_flat_ring = true;
    else if (s == "nccl") f.dp_flat_ring = false;
    else d.error(p + ".dp_ring", "unknown value; use flat or nccl");
  }
  if (j.contains("eager_elementwise")) {
    const auto& e = j["eager_elementwise"];
    const std::string q = p + ".eager_elementwise";
    f.eager.has_eager = true;
    read(e, "rmsnorm", f.eager.rmsnorm, d, q, 0, 1000);
    read(e, "layernorm", f.eager.layernorm, d, q, 0, 1000);
    read(e, "gated_activation", f.eager.gated_activation, d, q, 0, 1000);
    read(e, "activation", f.eager.activation, d, q, 0, 1000);
    read(e, "rope", f.eager.rope, d, q, 0, 1000);
    read(e, "softmax_accesses", f.softmax_accesses, d, q, 0, 100);
    read(e, "softmax_mask_bytes", f.softmax_mask_bytes, d, q, 0, 100);
  }
  if (j.contains("eager_ops")) {
    const auto& e = j["eager_ops"];
    const std::string q = p + ".eager_ops";
    auto& o = f.ops;
    o.counted = true;
    const std::pair<const char*, double*> fields[] = {
        {"layernorm", &o.layernorm}, {"rmsnorm", &o.rmsnorm}, {"linear", &o.linear},
        {"bias_add", &o.bias_add}, {"attention_core", &o.attention_core},
        {"merge_heads", &o.merge_heads}, {"activation", &o.activation},
        {"gated_product", &o.gated_product}, {"residual_add", &o.residual_add},
        {"rotary", &o.rotary}, {"gqa_copy", &o.gqa_copy},
        {"backward_per_forward", &o.backward_per_forward}, {"tp_collective", &o.tp_collective},
        {"sp_grad_sum", &o.sp_grad_sum}, {"cp_per_block", &o.cp_per_block},
        {"cp_per_shift", &o.cp_per_shift}, {"cp_fixed", &o.cp_fixed},
        {"moe_router", &o.moe_router}, {"moe_sort", &o.moe_sort},
        {"moe_per_expert", &o.moe_per_expert}, {"moe_combine", &o.moe_combine},
        {"moe_ep_exchange", &o.moe_ep_exchange}, {"moe_ep_grad_scale", &o.moe_ep_grad_scale},
        {"embedding", &o.embedding}, {"head", &o.head}, {"sp_embedding", &o.sp_embedding},
        {"sp_head", &o.sp_head}};
    for (const auto& [key, out] : fields) read(e, key, *out, d, q, 0, 1000);
  }
  if (j.contains("saved_activations")) {
    const auto& e = j["saved_activations"];
    const std::string q = p + ".saved_activations";
    auto& sv = f.saved;
    read(e, "rmsnorm", sv.rmsnorm, d, q, 0, 100);
    read(e, "layernorm", sv.layernorm, d, q, 0, 100);
    read(e, "mlp", sv.mlp, d, q, 0, 100);
    read(e, "gated_mlp", sv.gated_mlp, d, q, 0, 100);
    read(e, "rope_extra", sv.rope_extra, d, q, 0, 100);
    read(e, "repeat_kv", sv.repeat_kv, d, q, 0, 1);
    read(e, "scores_elements", sv.scores_elements, d, q, 0, 100);
    read(e, "scores_mask_bytes", sv.scores_mask_bytes, d, q, 0, 100);
    read(e, "stream_mask_bytes", sv.stream_mask_bytes, d, q, 0, 100);
  }
  read(j, "repeat_kv_copy", f.repeat_kv_copy, d, p, 0, 1);
  if (j.contains("loss_all_reduce"))
    read(j["loss_all_reduce"], "blocking", f.loss_all_reduce, d, p + ".loss_all_reduce", 0, 1);
  if (j.contains("attention_kernel") && j["attention_kernel"].contains("efficiency")) {
    const auto& e = j["attention_kernel"]["efficiency"];
    const std::string q = p + ".attention_kernel.efficiency";
    if (!e.is_object()) d.error(q, "must be an object of GPU generation: share of peak");
    else
      for (const auto& [gen, v] : e.items()) {
        if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1)
          d.error(q + "." + gen, "must be a number in (0, 1]");
        else f.attention_efficiency[gen] = v.get<double>();
      }
  }
  if (j.contains("attention_kernel") && j["attention_kernel"].contains("bwd_efficiency")) {
    const auto& e = j["attention_kernel"]["bwd_efficiency"];
    const std::string q = p + ".attention_kernel.bwd_efficiency";
    if (!e.is_object()) d.error(q, "must be an object of GPU generation: share of peak");
    else
      for (const auto& [gen, v] : e.items()) {
        if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1)
          d.error(q + "." + gen, "must be a number in (0, 1]");
        else f.attention_bwd_efficiency[gen] = v.get<double>();
      }
  }
  if (j.contains("context_parallel")) {
    const auto& e = j["context_parallel"];
    const std::string q = p + ".context_parallel";
    read(e, "kv_all_gather", f.cp.kv_all_gather, d, q, 0, 1);
    read(e, "grad_bytes", f.cp.grad_bytes, d, q, 0, 8);
    read(e, "backward_resends_kv", f.cp.backward_resends_kv, d, q, 0, 1);
    read(e, "kv_unrepeated", f.cp.kv_unrepeated, d, q, 0, 1);
    auto passes = [&](const char* key, FrameworkBehaviour::ContextParallel::Passes& ps) {
      if (!e.contains(key)) return;
      const std::string r = q + "." + key;
      read(e[key], "fwd_out", ps.fwd_out, d, r, 0, 1000);
      read(e[key], "bwd_q", ps.bwd_q, d, r, 0, 1000);
      read(e[key], "bwd_kv", ps.bwd_kv, d, r, 0, 1000);
      read(e[key], "kv_pack", ps.kv_pack, d, r, 0, 1000);
    };
    passes("eager", f.cp.eager);
    passes("compiled", f.cp.compiled);
  }
  if (j.contains("tp_overlap")) read(j["tp_overlap"], "backward", f.tp_overlap_backward, d, p + ".tp_overlap", 0, 1);
  if (j.contains("selective_recompute")) {
    const auto& s = j["selective_recompute"];
    const std::string q = p + ".selective_recompute";
    read(s, "attention_core", f.selective_recomputes_attention, d, q, 0, 1);
    read(s, "every_second_mm", f.selective_recomputes_every_second_mm, d, q, 0, 1);
    read(s, "elementwise", f.selective_recomputes_elementwise, d, q, 0, 1);
    read(s, "fp8_gemms", f.selective_recomputes_fp8_gemms, d, q, 0, 1);
  }
  if (j.contains("kernels")) {
    const auto& k = j["kernels"];
    const std::string q = p + ".kernels";
    auto& c = f.kernels;
    if (k.contains("dense_layer")) {
      read(k["dense_layer"], "fwd", c.dense_fwd, d, q + ".dense_layer", 0, 1e4);
      read(k["dense_layer"], "bwd", c.dense_bwd, d, q + ".dense_layer", 0, 1e4);
    }
    if (k.contains("compiled")) {
      read(k["compiled"], "fwd", c.compiled_fwd, d, q + ".compiled", 0, 1e4);
      read(k["compiled"], "bwd", c.compiled_bwd, d, q + ".compiled", 0, 1e4);
    }
    read(k, "selective_recompute", c.selective_recompute, d, q, 0, 1e4);
    read(k, "per_tp_collective", c.per_tp_collective, d, q, 0, 1e3);
    read(k, "per_cp_step", c.per_cp_step, d, q, 0, 1e3);
    if (k.contains("fp8")) {
      const auto& e = k["fp8"];
      read(e, "fwd_per_linear", c.fp8_fwd_per_linear, d, q + ".fp8", 0, 1e3);
      read(e, "bwd_per_linear", c.fp8_bwd_per_linear, d, q + ".fp8", 0, 1e3);
      read(e, "current_scaling_per_linear", c.fp8_current_per_linear, d, q + ".fp8", 0, 1e3);
    }
    if (k.contains("moe")) {
      const auto& e = k["moe"];
      read(e, "fwd", c.moe_fwd, d, q + ".moe", 0, 1e4);
      read(e, "bwd", c.moe_bwd, d, q + ".moe", 0, 1e4);
      read(e, "per_expert_fwd", c.moe_per_expert_fwd, d, q + ".moe", 0, 1e3);
      read(e, "per_expert_bwd", c.moe_per_expert_bwd, d, q + ".moe", 0, 1e3);
      read(e, "host_syncs", c.moe_host_syncs, d, q + ".moe", 0, 100);
      read(e, "fp8_per_expert_fwd", c.moe_fp8_per_expert_fwd, d, q + ".moe", 0, 1e3);
      read(e, "fp8_per_expert_bwd", c.moe_fp8_per_expert_bwd, d, q + ".moe", 0, 1e3);
    }
    read(k, "embedding", c.embedding, d, q, 0, 1e4);
    read(k, "head", c.head, d, q, 0, 1e4);
    if (k.contains("modules")) {
      const auto& e = k["modules"];
      read(e, "dense_fwd", c.modules_fwd, d, q + ".modules", 0, 1e3);
      read(e, "dense_bwd", c.modules_bwd, d, q + ".modules", 0, 1e3);
      read(e, "moe_fwd", c.moe_modules_fwd, d, q + ".modules", 0, 1e3);
      read(e, "moe_bwd", c.moe_modules_bwd, d, q + ".modules", 0, 1e3);
    }
    if (k.contains("graph_scopes") && k["graph_scopes"].is_object()) {
      for (const auto& [name, e] : k["graph_scopes"].items()) {
        if (name == "source") continue;
        const std::string r = q + ".graph_scopes." + name;
        FrameworkBehaviour::Kernels::GraphScope g;
        read(e, "fwd", g.fwd, d, r, 0, 1e4);
        read(e, "bwd", g.bwd, d, r, 0, 1e4);
        read(e, "modules_fwd", g.modules_fwd, d, r, 0, 1e3);
        read(e, "modules_bwd", g.modules_bwd, d, r, 0, 1e3);
        read(e, "moe", g.moe, d, r, 0, 1);
        c.graph_scopes.emplace_back(name, g);
      }
    }
  }
  if (j.contains("host")) {
    const auto& h = j["host"];
    const std::string q = p + ".host";
    double fwd_us = 0, bwd_us = 0, coll_us = 0;
    read(h, "dispatch_fwd_us", fwd_us, d, q, 0, 1e4);
    read(h, "dispatch_bwd_us", bwd_us, d, q, 0, 1e4);
    read(h, "collective_us", coll_us, d, q, 0, 1e4);
    double loop_us = 0;
    read(h, "expert_loop_us", loop_us, d, q, 0, 1e4);
    f.host.expert_loop_s = loop_us * 1e-6;
    read(h, "expert_loop_calls", f.host.expert_loop_calls, d, q, 0, 100);
    double module_us = 0;
    read(h, "module_call_us", module_us, d, q, 0, 1e4);
    f.host.module_call_s = module_us * 1e-6;
    f.host.dispatch_fwd_s = fwd_us * 1e-6;
    f.host.dispatch_bwd_s = bwd_us * 1e-6;
    f.host.collective_s = coll_us * 1e-6;
    read(h, "cuda_graphs", f.host.cuda_graphs, d, q, 0, 1);
  }
  if (j.contains("pipeline_schedules")) {
    const auto& ps = j["pipeline_schedules"];
    const std::string q = p + ".pipeline_schedules";
    const auto& list = ps.is_object() && ps.contains("supported") ? ps["supported"] : ps;
    if (!list.is_array()) {
      d.error(q, "must be a list of schedule names, or {\"supported\": [...], \"source\": ...}");
    } else {
      f.pipeline_schedules.clear();
      for (const auto& v : list) {
        Schedule k;
        if (!v.is_string() || !parse_schedule(v.get<std::string>(), k))
          d.error(q, "unknown schedule " + v.dump() +
                         "; use gpipe, 1f1b, interleaved, zb-h1, zb-v, dualpipe or dualpipev");
        else f.pipeline_schedules.push_back(k);
      }
    }
  }
  if (j.contains("defaults")) {
    const auto& o = j["defaults"];
    const std::string q = p + ".defaults";
    read(o, "tp_comm_overlap", f.tp_comm_overlap, d, q, 0, 1);
    read(o, "compile", f.compile, d, q, 0, 1);
    read(o, "overlap_grad_reduce", f.overlap_grad_reduce, d, q, 0, 1);
    read(o, "overlap_param_gather", f.overlap_param_gather, d, q, 0, 1);
  }
  return f;
}

std::vector<std::string> framework_names() {
  return preset_names_in("frameworks");
}

namespace {
const FrameworkBehaviour& load(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<FrameworkBehaviour>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return *it->second;
  nlohmann::json j;
  std::error_code ec;
  if (const char* text = find_preset_text("frameworks", name)) {
    j = parse_json_text(text, "framework preset " + name);
  } else if (std::filesystem::is_regular_file(name, ec)) {
    j = parse_json_text(read_file(name), "'" + name + "'");
  } else {
    std::string names;
    for (const auto& n : framework_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("train.framework: unknown framework \"" + name + "\"; use one of " + names +
                " or a path to a framework JSON file (see examples/frameworks/)");
  }
  Diagnostics d;
  FrameworkBehaviour f = framework_from_json(j, d, "framework " + name);
  d.throw_if_errors("train.framework '" + name + "'");
  if (f.name.empty()) f.name = name;
  auto& slot = cache[name];
  slot = std::make_unique<FrameworkBehaviour>(std::move(f));
  return *slot;
}
}  // namespace

const FrameworkBehaviour& framework_behaviour(const Training& t) {
  // The planner calls this for every layout: remember the last answer per thread.
  thread_local std::string last_key;
  thread_local const FrameworkBehaviour* last = nullptr;
  const std::string& name = t.framework_name();
  if (last && last_key == name) return *last;
  last = &load(name);
  last_key = name;
  return *last;
}

bool eager_elementwise(const Training& t) {
  const FrameworkBehaviour& f = framework_behaviour(t);
  return f.eager.has_eager && !resolve(t.compile, f.compile);
}

}  // namespace parplan::cost
