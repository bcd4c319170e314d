#include "parplan/cost/framework.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>
#include <variant>

#include "parplan/model/io.hpp"

namespace parplan::cost {

namespace {

// One optional field of a section: where it goes and, for a number, its range.
struct Field {
  const char* key;
  std::variant<bool*, int*, double*> out;
  double lo = 0, hi = 1;
};

// A section of a framework file ("zero3", "kernels.moe", ...). An absent section or field keeps
// FrameworkBehaviour's default; a wrong field is reported under its full path ("framework
// deepspeed.zero3.prefetch_depth: must be a number in [0, 64]") and also keeps it.
class Section {
 public:
  Section(const nlohmann::json* j, Diagnostics& d, std::string path)
      : j_(j), d_(d), path_(std::move(path)) {}
  bool present() const { return j_ != nullptr; }
  bool has(const char* key) const { return j_ && j_->contains(key); }
  const nlohmann::json& operator[](const char* key) const { return (*j_)[key]; }
  std::string path(const char* key) const { return path_ + "." + key; }
  Section at(const char* key) const { return {has(key) ? &(*j_)[key] : nullptr, d_, path(key)}; }
  // The members of an object section, each a section (none when absent or not an object).
  std::vector<std::pair<std::string, Section>> members() const {
    std::vector<std::pair<std::string, Section>> out;
    if (j_ && j_->is_object())
      for (const auto& [key, v] : j_->items()) out.emplace_back(key, Section{&v, d_, path_ + "." + key});
    return out;
  }

  void read(const Field& f) const {
    if (!has(f.key)) return;
    const nlohmann::json& v = (*j_)[f.key];
    if (auto* b = std::get_if<bool*>(&f.out)) {
      if (!v.is_boolean()) return d_.error(path(f.key), "must be true or false");
      **b = v.get<bool>();
      return;
    }
    if (!v.is_number() || v.get<double>() < f.lo || v.get<double>() > f.hi)
      return d_.error(path(f.key), "must be a number in [" + std::to_string(f.lo) + ", " +
                                       std::to_string(f.hi) + "]");
    std::visit(
        [&](auto* out) {
          *out = static_cast<std::remove_pointer_t<decltype(out)>>(v.get<double>());
        },
        f.out);
  }
  void read(std::initializer_list<Field> fields) const {
    for (const Field& f : fields) read(f);
  }
  // Numbers that share one range.
  void read(std::initializer_list<std::pair<const char*, double*>> fields, double lo,
            double hi) const {
    for (const auto& [key, out] : fields) read({key, out, lo, hi});
  }
  // A string that names one of `values`; `use` lists them for the message.
  template <class T>
  void choice(const char* key, T& out, std::initializer_list<std::pair<const char*, T>> values,
              const char* use) const {
    if (!has(key)) return;
    const nlohmann::json& v = (*j_)[key];
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    for (const auto& [name, value] : values)
      if (s == name) {
        out = value;
        return;
      }
    d_.error(path(key), std::string("unknown value; use ") + use);
  }
  // {"<GPU generation>": share of peak in (0, 1], ...}
  void shares_of_peak(const char* key, std::map<std::string, double>& out) const {
    if (!has(key)) return;
    const nlohmann::json& e = (*j_)[key];
    if (!e.is_object())
      return d_.error(path(key), "must be an object of GPU generation: share of peak");
    for (const auto& [gen, v] : e.items()) {
      if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1)
        d_.error(path(key) + "." + gen, "must be a number in (0, 1]");
      else
        out[gen] = v.get<double>();
    }
  }
  Diagnostics& diagnostics() const { return d_; }

 private:
  const nlohmann::json* j_;
  Diagnostics& d_;
  std::string path_;
};

void read_pipeline_schedules(const Section& root, FrameworkBehaviour& f) {
  if (!root.has("pipeline_schedules")) return;
  const auto& ps = root["pipeline_schedules"];
  const std::string q = root.path("pipeline_schedules");
  Diagnostics& d = root.diagnostics();
  const auto& list = ps.is_object() && ps.contains("supported") ? ps["supported"] : ps;
  if (!list.is_array())
    return d.error(q,
                   "must be a list of schedule names, or {\"supported\": [...], \"source\": ...}");
  f.pipeline_schedules.clear();
  for (const auto& v : list) {
    Schedule k;
    if (!v.is_string() || !parse_schedule(v.get<std::string>(), k))
      d.error(q, "unknown schedule " + v.dump() +
                     "; use gpipe, 1f1b, interleaved, zb-h1, zb-v, dualpipe or dualpipev");
    else
      f.pipeline_schedules.push_back(k);
  }
}

void read_kernels(const Section& k, FrameworkBehaviour::Kernels& c) {
  k.at("dense_layer").read({{"fwd", &c.dense_fwd}, {"bwd", &c.dense_bwd}}, 0, 1e4);
  k.at("compiled").read({{"fwd", &c.compiled_fwd}, {"bwd", &c.compiled_bwd}}, 0, 1e4);
  k.read({{"selective_recompute", &c.selective_recompute, 0, 1e4},
          {"per_tp_collective", &c.per_tp_collective, 0, 1e3},
          {"per_cp_step", &c.per_cp_step, 0, 1e3}});
  k.at("fp8").read({{"fwd_per_linear", &c.fp8_fwd_per_linear},
                    {"bwd_per_linear", &c.fp8_bwd_per_linear},
                    {"current_scaling_per_linear", &c.fp8_current_per_linear}},
                   0, 1e3);
  const Section moe = k.at("moe");
  moe.read({{"fwd", &c.moe_fwd, 0, 1e4},
            {"bwd", &c.moe_bwd, 0, 1e4},
            {"per_expert_fwd", &c.moe_per_expert_fwd, 0, 1e3},
            {"per_expert_bwd", &c.moe_per_expert_bwd, 0, 1e3},
            {"host_syncs", &c.moe_host_syncs, 0, 100},
            {"fp8_per_expert_fwd", &c.moe_fp8_per_expert_fwd, 0, 1e3},
            {"fp8_per_expert_bwd", &c.moe_fp8_per_expert_bwd, 0, 1e3}});
  k.read({{"embedding", &c.embedding}, {"head", &c.head}}, 0, 1e4);
  k.at("modules").read({{"dense_fwd", &c.modules_fwd},
                        {"dense_bwd", &c.modules_bwd},
                        {"moe_fwd", &c.moe_modules_fwd},
                        {"moe_bwd", &c.moe_modules_bwd}},
                       0, 1e3);
  for (const auto& [name, e] : k.at("graph_scopes").members()) {
    if (name == "source") continue;
    FrameworkBehaviour::Kernels::GraphScope g;
    e.read({{"fwd", &g.fwd, 0, 1e4},
            {"bwd", &g.bwd, 0, 1e4},
            {"modules_fwd", &g.modules_fwd, 0, 1e3},
            {"modules_bwd", &g.modules_bwd, 0, 1e3},
            {"moe", &g.moe}});
    c.graph_scopes.emplace_back(name, g);
  }
}

void read_host(const Section& h, FrameworkBehaviour::Host& host) {
  if (!h.present()) return;
  double fwd_us = 0, bwd_us = 0, coll_us = 0, loop_us = 0, module_us = 0;  // microseconds
  h.read({{"dispatch_fwd_us", &fwd_us},
          {"dispatch_bwd_us", &bwd_us},
          {"collective_us", &coll_us},
          {"expert_loop_us", &loop_us},
          {"module_call_us", &module_us}},
         0, 1e4);
  host.module_call_s = module_us * 1e-6;
  h.read(
      {{"expert_loop_calls", &host.expert_loop_calls, 0, 100}, {"cuda_graphs", &host.cuda_graphs},
       {"param_hooks", &host.param_hooks}});
  h.at("expert_loop_items")
      .read({{"fwd", &host.expert_loop_items_fwd},
             {"bwd", &host.expert_loop_items_bwd},
             {"fwd_16bit", &host.expert_loop_items_fwd_16bit},
             {"bwd_16bit", &host.expert_loop_items_bwd_16bit}},
            0, 1e3);
  host.expert_loop_s = loop_us * 1e-6;
  host.dispatch_fwd_s = fwd_us * 1e-6;
  host.dispatch_bwd_s = bwd_us * 1e-6;
  host.collective_s = coll_us * 1e-6;
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
  const Section root(&j, d, p);
  root.at("zero3").read({{"gathers_per_layer", &f.zero3_gathers_per_layer, 1, 64},
                         {"overlap_grad_reduce", &f.zero3_overlap_grad_reduce},
                         {"regather_in_backward", &f.zero3_regather_in_backward},
                         {"prefetch_depth", &f.zero3_prefetch_depth, 0, 64},
                         {"prefetch_elements", &f.zero3_prefetch_elements, 0, 1e15},
                         {"gather_once_with_pp", &f.zero3_gather_once_with_pp}});
  const Section grad = root.at("grad_reduce");
  grad.read({{"bucket_elements", &f.grad_bucket_elements, 0, 1e12},
             {"per_layer_from_zero_stage", &f.grad_per_layer_from_zero, 0, 3},
             {"units_besides_layers", &f.grad_units_besides_layers, 0, 16},
             {"over_context_parallel", &f.grad_reduce_over_cp}});
  // Bytes per gradient element on the wire; 0: the gradients' own dtype.
  grad.choice<double>("dtype", f.grad_reduce_bytes,
                      {{"grad", 0}, {"fp32", 4}, {"bf16", 2}, {"fp16", 2}},
                      "grad, fp32, bf16 or fp16");
  root.choice<bool>("dp_ring", f.dp_flat_ring, {{"flat", true}, {"nccl", false}}, "flat or nccl");
  if (const Section e = root.at("eager_elementwise"); e.present()) {
    f.eager.has_eager = true;
    e.read({{"rmsnorm", &f.eager.rmsnorm},
            {"layernorm", &f.eager.layernorm},
            {"gated_activation", &f.eager.gated_activation},
            {"activation", &f.eager.activation},
            {"rope", &f.eager.rope},
            {"cross_entropy", &f.eager.cross_entropy}},
           0, 1000);
    e.read(
        {{"softmax_accesses", &f.softmax_accesses}, {"softmax_mask_bytes", &f.softmax_mask_bytes}},
        0, 100);
  }
  if (const Section e = root.at("eager_ops"); e.present()) {
    auto& o = f.ops;
    o.counted = true;
    e.read({{"layernorm", &o.layernorm},
            {"rmsnorm", &o.rmsnorm},
            {"linear", &o.linear},
            {"bias_add", &o.bias_add},
            {"attention_core", &o.attention_core},
            {"merge_heads", &o.merge_heads},
            {"activation", &o.activation},
            {"gated_product", &o.gated_product},
            {"residual_add", &o.residual_add},
            {"rotary", &o.rotary},
            {"gqa_copy", &o.gqa_copy},
            {"backward_per_forward", &o.backward_per_forward},
            {"tp_collective", &o.tp_collective},
            {"sp_grad_sum", &o.sp_grad_sum},
            {"cp_per_block", &o.cp_per_block},
            {"cp_per_shift", &o.cp_per_shift},
            {"cp_fixed", &o.cp_fixed},
            {"moe_router", &o.moe_router},
            {"moe_sort", &o.moe_sort},
            {"moe_per_expert", &o.moe_per_expert},
            {"moe_combine", &o.moe_combine},
            {"moe_ep_exchange", &o.moe_ep_exchange},
            {"moe_ep_grad_scale", &o.moe_ep_grad_scale},
            {"embedding", &o.embedding},
            {"head", &o.head},
            {"sp_embedding", &o.sp_embedding},
            {"sp_head", &o.sp_head}},
           0, 1000);
  }
  auto& sv = f.saved;
  root.at("saved_activations")
      .read({{"rmsnorm", &sv.rmsnorm, 0, 100},
             {"layernorm", &sv.layernorm, 0, 100},
             {"mlp", &sv.mlp, 0, 100},
             {"gated_mlp", &sv.gated_mlp, 0, 100},
             {"rope_extra", &sv.rope_extra, 0, 100},
             {"repeat_kv", &sv.repeat_kv},
             {"scores_elements", &sv.scores_elements, 0, 100},
             {"scores_mask_bytes", &sv.scores_mask_bytes, 0, 100},
             {"stream_mask_bytes", &sv.stream_mask_bytes, 0, 100},
             {"moe_expert_output", &sv.moe_expert_output, 0, 100},
             {"logits", &sv.logits, 0, 100}});
  root.read({"repeat_kv_copy", &f.repeat_kv_copy});
  root.at("loss_all_reduce").read({"blocking", &f.loss_all_reduce});
  const Section attention = root.at("attention_kernel");
  attention.shares_of_peak("efficiency", f.attention_efficiency);
  attention.shares_of_peak("bwd_efficiency", f.attention_bwd_efficiency);
  const Section cp = root.at("context_parallel");
  cp.read({{"kv_all_gather", &f.cp.kv_all_gather},
           {"grad_bytes", &f.cp.grad_bytes, 0, 8},
           {"backward_resends_kv", &f.cp.backward_resends_kv},
           {"kv_unrepeated", &f.cp.kv_unrepeated}});
  for (auto [key, ps] : {std::pair{"eager", &f.cp.eager}, std::pair{"compiled", &f.cp.compiled}})
    cp.at(key).read({{"fwd_out", &ps->fwd_out},
                     {"bwd_q", &ps->bwd_q},
                     {"bwd_kv", &ps->bwd_kv},
                     {"kv_pack", &ps->kv_pack}},
                    0, 1000);
  root.at("tp_overlap").read({"backward", &f.tp_overlap_backward});
  root.at("selective_recompute")
      .read({{"attention_core", &f.selective_recomputes_attention},
             {"every_second_mm", &f.selective_recomputes_every_second_mm},
             {"elementwise", &f.selective_recomputes_elementwise},
             {"fp8_gemms", &f.selective_recomputes_fp8_gemms}});
  read_kernels(root.at("kernels"), f.kernels);
  read_host(root.at("host"), f.host);
  read_pipeline_schedules(root, f);
  root.at("defaults")
      .read({{"tp_comm_overlap", &f.tp_comm_overlap},
             {"compile", &f.compile},
             {"overlap_grad_reduce", &f.overlap_grad_reduce},
             {"overlap_param_gather", &f.overlap_param_gather}});
  return f;
}

std::vector<std::string> framework_names() {
  return preset_names_in("frameworks");
}

namespace {
// The JSON of a framework preset or file; a file that names another framework ("extends":
// "fsdp2") states only what differs: its members are merged onto the base's as an RFC 7386 JSON
// merge patch (objects merged key by key, any other value replaces the base's, null removes it).
nlohmann::json framework_json(const std::string& name, const std::string& what, int depth) {
  nlohmann::json j;
  std::error_code ec;
  if (const char* text = find_preset_text("frameworks", name)) {
    j = parse_json_text(text, "framework preset " + name);
  } else if (std::filesystem::is_regular_file(name, ec)) {
    j = parse_json_text(read_file(name), "'" + name + "'");
  } else {
    std::string names;
    for (const auto& n : framework_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error(what + ": unknown framework \"" + name + "\"; use one of " + names +
                " or a path to a framework JSON file (see examples/frameworks/)");
  }
  if (!j.is_object() || !j.contains("extends")) return j;
  const std::string field = "framework " + name + ".extends";
  if (!j["extends"].is_string())
    throw Error(field + ": must be the name of a framework preset or a path to a framework JSON "
                        "file");
  if (depth >= 8)
    throw Error(field + ": more than 8 frameworks extend one another (a cycle?); let one of them "
                        "state its behaviours without \"extends\"");
  // A relative path is read next to the file that names it (as an #include is), so a pair of
  // files moves together; a preset name or an absolute path is taken as it is.
  std::string base_name = j["extends"].get<std::string>();
  const std::filesystem::path base_path(base_name);
  if (!find_preset_text("frameworks", name) && !find_preset_text("frameworks", base_name) &&
      base_path.is_relative()) {
    const auto beside = std::filesystem::path(name).parent_path() / base_path;
    if (std::filesystem::is_regular_file(beside, ec)) base_name = beside.string();
  }
  nlohmann::json base = framework_json(base_name, field, depth + 1);
  j.erase("extends");
  base.merge_patch(j);
  return base;
}

const FrameworkBehaviour& load(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<FrameworkBehaviour>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return *it->second;
  const nlohmann::json j = framework_json(name, "train.framework", 0);
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
