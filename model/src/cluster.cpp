#include "parplan/model/cluster.hpp"

#include <nlohmann/json.hpp>

#include "json_reader.hpp"
#include "parplan/model/io.hpp"

namespace parplan {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kGBps = 1e9;
constexpr double kUs = 1e-6;
constexpr double kTflops = 1e12;

bool parse_intra(const std::string& s, IntraKind& out) {
  if (s == "nvswitch") out = IntraKind::NvSwitch;
  else if (s == "nvlink") out = IntraKind::NvLink;
  else if (s == "pcie") out = IntraKind::Pcie;
  else if (s == "shm") out = IntraKind::Shm;
  else return false;
  return true;
}
bool parse_topology(const std::string& s, Topology& out) {
  if (s == "fat-tree") out = Topology::FatTree;
  else if (s == "dragonfly") out = Topology::Dragonfly;
  else if (s == "torus") out = Topology::Torus;
  else if (s == "star") out = Topology::Star;
  else return false;
  return true;
}
}  // namespace

const char* to_string(IntraKind k) {
  switch (k) {
    case IntraKind::NvSwitch: return "nvswitch";
    case IntraKind::NvLink: return "nvlink";
    case IntraKind::Pcie: return "pcie";
    case IntraKind::Shm: return "shm";
  }
  return "?";
}
const char* to_string(Topology t) {
  switch (t) {
    case Topology::FatTree: return "fat-tree";
    case Topology::Dragonfly: return "dragonfly";
    case Topology::Torus: return "torus";
    case Topology::Star: return "star";
  }
  return "?";
}

double Gpu::peak_flops(DType t) const {
  switch (t) {
    case DType::BF16: return peak_flops_bf16;
    case DType::FP16: return peak_flops_fp16;
    case DType::TF32: return peak_flops_tf32;
    case DType::FP32: return peak_flops_fp32;
    case DType::FP8: return peak_flops_fp8;
    case DType::MXFP8: return peak_flops_mxfp8;
    case DType::NVFP4: return peak_flops_nvfp4;
  }
  return 0;
}

std::string gpu_generation(const Gpu& gpu) {
  if (!gpu.generation.empty()) return gpu.generation;
  // Inferred from the dense BF16 peak: Ampere 312, Hopper 989, Blackwell 2,250-2,500 TFLOP/s.
  if (gpu.peak_flops_bf16 >= 1500e12) return "blackwell";
  if (gpu.peak_flops_bf16 > 600e12) return "hopper";
  if (gpu.peak_flops_bf16 > 0) return "ampere";
  return "";
}

// The priors of the corpus fit (docs/calibration.md): each value is cited here and is what a
// parameter returns to when no measured row constrains it. GEMM and memory-bound efficiencies as
// first calibrated on Korthikanti et al. 2022 Table 5 (A100, Selene), the intra-node link on
// nccl-tests. Hopper-class GPUs reach a smaller fraction of their dense peak in large GEMMs
// (cuBLAS ~700-750 of 989 TFLOP/s bf16 on H100 SXM), hence the lower matmul_max.
Efficiency prior_efficiency(const Gpu& gpu) {
  Efficiency e;
  const std::string g = gpu_generation(gpu);
  const bool hopper_class = g == "hopper" || g == "blackwell";
  e.matmul_max = hopper_class ? 0.75 : 0.84;
  e.matmul_half_dim = 128;
  e.memory_bound = 0.85;
  // NCCL ring on NVLink/NVSwitch: nccl-tests all_reduce_perf on 8 A100 SXM reaches 230-250 GB/s
  // bus bandwidth of the 300 GB/s per direction (NCCL's own model caps it at 235 GB/s,
  // src/graph/tuning.cc), 8 H100 SXM without NVLS ~360 of 450: 0.80.
  e.intra_node_link = 0.80;
  e.inter_node_link = 0.80;
  e.memory_reserve = 0.03;
  // Rashidi et al. 2021 (ISCA, "Enabling Compute-Communication Overlap..."): concurrent NCCL
  // collectives slow overlapped GEMMs by roughly 10-30%; we take 20%.
  e.overlap_slowdown = 0.20;
  return e;
}

namespace {
// examples/calibration/efficiency.json "fitted": generation -> parameter -> value, read once.
const nlohmann::json& calibration() {
  static const nlohmann::json j = [] {
    const char* text = find_preset_text("calibration", "efficiency");
    if (!text) return nlohmann::json::object();
    nlohmann::json f = parse_json_text(text, "examples/calibration/efficiency.json");
    return f.contains("fitted") && f["fitted"].is_object() ? f["fitted"] : nlohmann::json::object();
  }();
  return j;
}
}  // namespace

double calibrated_default(const std::string& generation, const char* key, double prior) {
  const nlohmann::json& c = calibration();
  for (const std::string& g : {generation, std::string("*")}) {
    const auto it = c.find(g);
    if (it == c.end() || !it->is_object()) continue;
    const auto v = it->find(key);
    if (v != it->end() && v->is_number()) return v->get<double>();
  }
  return prior;
}

// The shipped defaults: the priors moved to where the fit on every source of the corpus put
// them (examples/calibration/efficiency.json, written by bench/calibrate_published --write).
Efficiency default_efficiency(const Gpu& gpu) {
  Efficiency e = prior_efficiency(gpu);
  const std::string g = gpu_generation(gpu);
  e.matmul_max = calibrated_default(g, "matmul_max", e.matmul_max);
  e.matmul_half_dim = calibrated_default(g, "matmul_half_dim", e.matmul_half_dim);
  e.memory_bound = calibrated_default(g, "memory_bound", e.memory_bound);
  e.intra_node_link = calibrated_default(g, "intra_node_link", e.intra_node_link);
  e.inter_node_link = calibrated_default(g, "inter_node_link", e.inter_node_link);
  e.overlap_slowdown = calibrated_default(g, "overlap_slowdown", e.overlap_slowdown);
  return e;
}

Cluster cluster_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& p) {
  Cluster c;
  detail::ObjectReader r(j, d, p);
  r.string("name", c.name, false);
  r.integer("nodes", c.nodes, true, 1, 10'000'000);
  r.integer("gpus_per_node", c.gpus_per_node, true, 1, 4096);
  if (const auto* g = r.object("gpu", true)) {
    detail::ObjectReader rg(*g, d, p + ".gpu");
    rg.string("name", c.gpu.name, false);
    rg.string("generation", c.gpu.generation, false);
    rg.number("memory_GiB", c.gpu.memory_bytes, true, 0, 1e6, kGiB);
    rg.number("memory_GBps", c.gpu.memory_bytes_per_s, true, 0, 1e7, kGBps);
    rg.number("op_overhead_us", c.gpu.op_overhead_s, false, 0, 1e6, kUs, true);
    // Floors and power (cost/floors.hpp): absent keeps the generation default.
    rg.number("kernel_launch_us", c.gpu.floors.kernel_launch_s, false, 0, 1e4, kUs, true);
    rg.number("kernel_device_us", c.gpu.floors.kernel_device_s, false, 0, 1e4, kUs, true);
    rg.number("expert_loop_us", c.gpu.floors.expert_loop_s, false, 0, 1e4, kUs, true);
    rg.number("module_call_us", c.gpu.floors.module_call_s, false, 0, 1e4, kUs, true);
    rg.integer("sm_count", c.gpu.floors.sm_count, false, 1, 100000);
    rg.number("tdp_W", c.gpu.floors.tdp_W, false, 1, 1e5);
    rg.number("power_limit_W", c.gpu.floors.power_limit_W, false, 1, 1e5);
    rg.number("exp_Tps", c.gpu.floors.exp_per_s, false, 0.001, 1e4, 1e12);
    if (const auto* pk = rg.object("peak_tflops", true)) {
      detail::ObjectReader rp(*pk, d, p + ".gpu.peak_tflops");
      rp.number("bf16", c.gpu.peak_flops_bf16, false, 0, 1e7, kTflops, true);
      rp.number("fp16", c.gpu.peak_flops_fp16, false, 0, 1e7, kTflops, true);
      rp.number("tf32", c.gpu.peak_flops_tf32, false, 0, 1e7, kTflops, true);
      rp.number("fp32", c.gpu.peak_flops_fp32, false, 0, 1e7, kTflops, true);
      rp.number("fp8", c.gpu.peak_flops_fp8, false, 0, 1e7, kTflops, true);
      rp.number("mxfp8", c.gpu.peak_flops_mxfp8, false, 0, 1e7, kTflops, true);
      rp.number("nvfp4", c.gpu.peak_flops_nvfp4, false, 0, 1e7, kTflops, true);
      rp.warn_unknown();
      if (c.gpu.peak_flops_bf16 + c.gpu.peak_flops_fp16 + c.gpu.peak_flops_tf32 +
              c.gpu.peak_flops_fp32 + c.gpu.peak_flops_fp8 <= 0)
        d.error(p + ".gpu.peak_tflops", "needs at least one dtype with a peak > 0 (e.g. \"bf16\": 312)");
    }
    rg.warn_unknown();
  }
  if (const auto* in = r.object("intra_node", true)) {
    detail::ObjectReader ri(*in, d, p + ".intra_node");
    ri.choice("kind", c.intra.kind, false, parse_intra, "nvswitch, nvlink, pcie, shm");
    ri.number("bandwidth_GBps", c.intra.bandwidth_bytes_per_s, true, 0, 1e7, kGBps);
    ri.number("latency_us", c.intra.latency_s, false, 0, 1e7, kUs, true);
    ri.boolean("nvls", c.intra.nvls, false);
    ri.number("nvls_share", c.intra.nvls_share, false, 0, 1, 1.0, true);
    if (const auto* co = ri.object("call_overhead_us", false)) {
      detail::ObjectReader rc(*co, d, p + ".intra_node.call_overhead_us");
      auto& o = c.intra.call_overhead_s;
      rc.number("all_reduce", o.all_reduce, false, 0, 1e7, kUs, true);
      rc.number("all_gather", o.all_gather, false, 0, 1e7, kUs, true);
      rc.number("reduce_scatter", o.reduce_scatter, false, 0, 1e7, kUs, true);
      rc.number("send_recv", o.send_recv, false, 0, 1e7, kUs, true);
      rc.number("concurrent", o.concurrent, false, 0, 1e7, kUs, true);
      rc.number("sync_wait", o.sync_wait, false, 0, 1e7, kUs, true);
      rc.warn_unknown();
    }
    ri.warn_unknown();
  }
  if (const auto* ex = r.object("inter_node", c.nodes > 1)) {
    detail::ObjectReader re(*ex, d, p + ".inter_node");
    re.choice("topology", c.inter.topology, false, parse_topology, "fat-tree, dragonfly, torus, star");
    re.number("nic_GBps", c.inter.nic_bytes_per_s, true, 0, 1e7, kGBps);
    re.integer("nics_per_node", c.inter.nics_per_node, false, 1, 1024);
    re.number("latency_us", c.inter.latency_s, false, 0, 1e7, kUs, true);
    re.integer("fat_tree_levels", c.inter.fat_tree_levels, false, 0, 4);
    re.integer("oversubscription", c.inter.fat_tree_oversubscription, false, 1, 64);
    re.integer("dragonfly_groups", c.inter.dragonfly_groups, false, 0, 100000);
    re.boolean("sharp", c.inter.sharp, false);
    if (re.has("torus_dims")) {
      re.skip("torus_dims");
      const auto& td = (*ex)["torus_dims"];
      if (!td.is_array() || td.size() != 3)
        d.error(p + ".inter_node.torus_dims", "must be an array of 3 positive integers");
      else
        for (int i = 0; i < 3; ++i) {
          if (!td[i].is_number_integer() || td[i].get<int64_t>() < 1)
            d.error(p + ".inter_node.torus_dims", "must be an array of 3 positive integers");
          else
            c.inter.torus_dims[i] = td[i].get<int64_t>();
        }
    }
    re.warn_unknown();
  } else if (c.nodes <= 1) {
    c.inter.nic_bytes_per_s = c.intra.bandwidth_bytes_per_s;
    c.inter.latency_s = c.intra.latency_s;
    c.inter.topology = Topology::Star;
  }
  if (const auto* h = r.object("host", false)) {
    detail::ObjectReader rh(*h, d, p + ".host");
    // 0 means "unknown": the cost model then uses its defaults (25 GB/s PCIe, 1 G params/s).
    rh.number("memory_GiB", c.host.memory_bytes, false, 0, 1e9, kGiB, true);
    rh.number("pcie_GBps", c.host.pcie_bytes_per_s, false, 0, 1e6, kGBps, true);
    rh.number("cpu_adam_Gparams_per_s", c.host.cpu_adam_params_per_s, false, 0, 1e6, 1e9, true);
    rh.number("nvme_GiB", c.host.nvme_bytes, false, 0, 1e12, kGiB, true);
    rh.number("nvme_GBps", c.host.nvme_bytes_per_s, false, 0, 1e6, kGBps, true);
    rh.warn_unknown();
  }
  if (const auto* ec = r.object("economics", false)) {
    detail::ObjectReader rc(*ec, d, p + ".economics");
    rc.number("price_per_gpu_hour", c.economics.price_per_gpu_hour, false, 0, 1e6, 1.0, true);
    rc.string("currency", c.economics.currency, false);
    rc.number("gpu_power_W", c.economics.gpu_power_W, false, 0, 1e6);
    rc.number("node_overhead_W", c.economics.node_overhead_W, false, 0, 1e7, 1.0, true);
    rc.number("pue", c.economics.pue, false, 0, 10);
    if (c.economics.pue < 1)
      d.error(p + ".economics.pue", "must be >= 1 (facility power / IT power), got " +
                                        std::to_string(c.economics.pue));
    rc.skip("source");
    rc.warn_unknown();
  }
  if (const auto* rl = r.object("reliability", false)) {
    detail::ObjectReader rr(*rl, d, p + ".reliability");
    rr.number("failures_per_gpu_hour", c.reliability.failures_per_gpu_hour, false, 0, 1, 1.0, true);
    if (rr.has("node_mtbf_hours")) {
      double mtbf_h = 0;
      rr.number("node_mtbf_hours", mtbf_h, false, 0, 1e9);
      if (mtbf_h > 0 && c.gpus_per_node > 0)
        c.reliability.failures_per_gpu_hour = 1.0 / (mtbf_h * double(c.gpus_per_node));
    }
    rr.number("restart_s", c.reliability.restart_s, false, 0, 1e7, 1.0, true);
    rr.number("checkpoint_GBps", c.reliability.checkpoint_bytes_per_s, false, 0, 1e7, kGBps, true);
    rr.skip("source");
    rr.warn_unknown();
  }
  r.integer("job_gpus", c.job_gpus, false, 0, 1'000'000'000);
  r.integer("nvlink_domain_gpus", c.nvlink_domain_gpus, false, 0, 1'000'000);
  r.integer("nvlink_domain_segment_gpus", c.nvlink_domain_segment_gpus, false, 0, 1'000'000);
  c.efficiency = default_efficiency(c.gpu);
  if (const auto* e = r.object("efficiency", false)) {
    detail::ObjectReader re(*e, d, p + ".efficiency");
    re.number("matmul_max", c.efficiency.matmul_max, false, 0, 1);
    re.number("matmul_half_dim", c.efficiency.matmul_half_dim, false, 0, 1e6, 1.0, true);
    re.number("memory_bound", c.efficiency.memory_bound, false, 0, 1);
    re.number("intra_node_link", c.efficiency.intra_node_link, false, 0, 1);
    re.number("inter_node_link", c.efficiency.inter_node_link, false, 0, 1);
    re.number("memory_reserve", c.efficiency.memory_reserve, false, 0, 0.9, 1.0, true);
    re.number("overlap_slowdown", c.efficiency.overlap_slowdown, false, 0, 1, 1.0, true);
    re.skip("source");
    re.warn_unknown();
  }
  r.skip("source");
  r.skip("description");
  r.skip("own_residuals");  // `parplan fit --runs`: read by the CLI for prediction intervals
  r.warn_unknown();
  if (d.ok()) validate(c, d, p);
  return c;
}

void validate(const Cluster& c, Diagnostics& d, const std::string& p) {
  if (c.nodes < 1) d.error(p + ".nodes", "must be >= 1 (a cluster needs at least one node)");
  if (c.gpus_per_node < 1) d.error(p + ".gpus_per_node", "must be >= 1 (zero GPUs cannot train)");
  if (!(c.gpu.memory_bytes > 0)) d.error(p + ".gpu.memory_GiB", "must be > 0");
  if (!(c.gpu.memory_bytes_per_s > 0)) d.error(p + ".gpu.memory_GBps", "must be > 0");
  if (!(c.intra.bandwidth_bytes_per_s > 0)) d.error(p + ".intra_node.bandwidth_GBps", "must be > 0");
  if (c.nodes > 1 && !(c.inter.nic_bytes_per_s > 0))
    d.error(p + ".inter_node.nic_GBps", "must be > 0 when nodes > 1");
  // An NVLink domain is whole nodes (NVL72: 18 trays of 4 GPUs).
  if (c.nvlink_domain_gpus > 0 && c.gpus_per_node > 0 &&
      (c.nvlink_domain_gpus < c.gpus_per_node || c.nvlink_domain_gpus % c.gpus_per_node != 0))
    d.error(p + ".nvlink_domain_gpus",
            "must be a multiple of gpus_per_node (" + std::to_string(c.gpus_per_node) + "), got " +
                std::to_string(c.nvlink_domain_gpus) + " (e.g. 72 for NVL72 with 4 GPUs per tray)");
  // A job's segment of a domain is whole nodes of it (NVL72: 16 of 18 trays).
  if (c.nvlink_domain_segment_gpus > 0 && c.gpus_per_node > 0 &&
      (c.nvlink_domain_segment_gpus % c.gpus_per_node != 0 ||
       c.nvlink_domain_segment_gpus > c.nvlink_domain()))
    d.error(p + ".nvlink_domain_segment_gpus",
            "must be a multiple of gpus_per_node (" + std::to_string(c.gpus_per_node) +
                ") no larger than the NVLink domain (" + std::to_string(c.nvlink_domain()) +
                "), got " + std::to_string(c.nvlink_domain_segment_gpus) +
                " (e.g. 64 for 16-tray segments of NVL72); 0 places jobs on whole domains");
}

nlohmann::json to_json(const Cluster& c) {
  nlohmann::json peak = nlohmann::json::object();
  if (c.gpu.peak_flops_bf16 > 0) peak["bf16"] = c.gpu.peak_flops_bf16 / kTflops;
  if (c.gpu.peak_flops_fp16 > 0) peak["fp16"] = c.gpu.peak_flops_fp16 / kTflops;
  if (c.gpu.peak_flops_tf32 > 0) peak["tf32"] = c.gpu.peak_flops_tf32 / kTflops;
  if (c.gpu.peak_flops_fp32 > 0) peak["fp32"] = c.gpu.peak_flops_fp32 / kTflops;
  if (c.gpu.peak_flops_fp8 > 0) peak["fp8"] = c.gpu.peak_flops_fp8 / kTflops;
  if (c.gpu.peak_flops_mxfp8 > 0) peak["mxfp8"] = c.gpu.peak_flops_mxfp8 / kTflops;
  if (c.gpu.peak_flops_nvfp4 > 0) peak["nvfp4"] = c.gpu.peak_flops_nvfp4 / kTflops;
  nlohmann::json inter = {{"topology", to_string(c.inter.topology)},
                          {"nic_GBps", c.inter.nic_bytes_per_s / kGBps},
                          {"nics_per_node", c.inter.nics_per_node},
                          {"latency_us", c.inter.latency_s / kUs}};
  if (c.inter.fat_tree_levels) inter["fat_tree_levels"] = c.inter.fat_tree_levels;
  if (c.inter.fat_tree_oversubscription != 1)
    inter["oversubscription"] = c.inter.fat_tree_oversubscription;
  if (c.inter.dragonfly_groups) inter["dragonfly_groups"] = c.inter.dragonfly_groups;
  if (c.inter.torus_dims[0])
    inter["torus_dims"] = {c.inter.torus_dims[0], c.inter.torus_dims[1], c.inter.torus_dims[2]};
  if (c.inter.sharp) inter["sharp"] = true;
  nlohmann::json j = {
      {"name", c.name},
      {"nodes", c.nodes},
      {"gpus_per_node", c.gpus_per_node},
      {"gpu",
       {{"name", c.gpu.name},
        {"memory_GiB", c.gpu.memory_bytes / kGiB},
        {"memory_GBps", c.gpu.memory_bytes_per_s / kGBps},
        {"peak_tflops", peak}}},
      {"intra_node",
       {{"kind", to_string(c.intra.kind)},
        {"bandwidth_GBps", c.intra.bandwidth_bytes_per_s / kGBps},
        {"latency_us", c.intra.latency_s / kUs}}},
      {"inter_node", inter},
      {"efficiency",
       {{"matmul_max", c.efficiency.matmul_max},
        {"matmul_half_dim", c.efficiency.matmul_half_dim},
        {"memory_bound", c.efficiency.memory_bound},
        {"intra_node_link", c.efficiency.intra_node_link},
        {"inter_node_link", c.efficiency.inter_node_link},
        {"memory_reserve", c.efficiency.memory_reserve},
        {"overlap_slowdown", c.efficiency.overlap_slowdown}}}};
  if (!c.gpu.generation.empty()) j["gpu"]["generation"] = c.gpu.generation;
  if (c.intra.nvls) j["intra_node"]["nvls"] = true;
  if (c.intra.nvls_share > 0) j["intra_node"]["nvls_share"] = c.intra.nvls_share;
  if (c.gpu.op_overhead_s > 0) j["gpu"]["op_overhead_us"] = c.gpu.op_overhead_s / kUs;
  const Gpu::Floors& fl = c.gpu.floors;
  if (fl.kernel_launch_s >= 0) j["gpu"]["kernel_launch_us"] = fl.kernel_launch_s / kUs;
  if (fl.kernel_device_s >= 0) j["gpu"]["kernel_device_us"] = fl.kernel_device_s / kUs;
  if (fl.expert_loop_s >= 0) j["gpu"]["expert_loop_us"] = fl.expert_loop_s / kUs;
  if (fl.module_call_s >= 0) j["gpu"]["module_call_us"] = fl.module_call_s / kUs;
  if (fl.sm_count > 0) j["gpu"]["sm_count"] = fl.sm_count;
  if (fl.tdp_W > 0) j["gpu"]["tdp_W"] = fl.tdp_W;
  if (fl.power_limit_W > 0) j["gpu"]["power_limit_W"] = fl.power_limit_W;
  if (fl.exp_per_s > 0) j["gpu"]["exp_Tps"] = fl.exp_per_s * 1e-12;
  const auto& co = c.intra.call_overhead_s;
  if (co.all_reduce + co.all_gather + co.reduce_scatter + co.send_recv + co.concurrent + co.sync_wait > 0) {
    j["intra_node"]["call_overhead_us"] = {{"all_reduce", co.all_reduce / kUs},
                                           {"all_gather", co.all_gather / kUs},
                                           {"reduce_scatter", co.reduce_scatter / kUs},
                                           {"send_recv", co.send_recv / kUs}};
    if (co.concurrent > 0) j["intra_node"]["call_overhead_us"]["concurrent"] = co.concurrent / kUs;
    if (co.sync_wait > 0) j["intra_node"]["call_overhead_us"]["sync_wait"] = co.sync_wait / kUs;
  }
  if (c.host.memory_bytes > 0 || c.host.pcie_bytes_per_s > 0 || c.host.cpu_adam_params_per_s > 0 ||
      c.host.nvme_bytes > 0) {
    j["host"] = {{"memory_GiB", c.host.memory_bytes / kGiB},
                 {"pcie_GBps", c.host.pcie_bytes_per_s / kGBps},
                 {"cpu_adam_Gparams_per_s", c.host.cpu_adam_params_per_s / 1e9}};
    if (c.host.nvme_bytes > 0) {
      j["host"]["nvme_GiB"] = c.host.nvme_bytes / kGiB;
      j["host"]["nvme_GBps"] = c.host.nvme_bytes_per_s / kGBps;
    }
  }
  const Economics& ec = c.economics;
  if (ec.price_per_gpu_hour > 0 || ec.gpu_power_W > 0)
    j["economics"] = {{"price_per_gpu_hour", ec.price_per_gpu_hour}, {"currency", ec.currency},
                      {"gpu_power_W", ec.gpu_power_W}, {"node_overhead_W", ec.node_overhead_W},
                      {"pue", ec.pue}};
  const Reliability& rl = c.reliability;
  if (rl.failures_per_gpu_hour > 0 || rl.restart_s > 0 || rl.checkpoint_bytes_per_s > 0)
    j["reliability"] = {{"failures_per_gpu_hour", rl.failures_per_gpu_hour},
                        {"restart_s", rl.restart_s},
                        {"checkpoint_GBps", rl.checkpoint_bytes_per_s / kGBps}};
  if (c.job_gpus > 0) j["job_gpus"] = c.job_gpus;
  if (c.nvlink_domain_gpus > 0) j["nvlink_domain_gpus"] = c.nvlink_domain_gpus;
  if (c.nvlink_domain_segment_gpus > 0) j["nvlink_domain_segment_gpus"] = c.nvlink_domain_segment_gpus;
  return j;
}

}  // namespace parplan
