#pragma once
// GPUs, nodes, links, topology, and the few calibrated efficiencies (DESIGN.md "Cluster").
// Internal units are SI: bytes, seconds, FLOP/s, bytes/s. JSON uses _GiB, _GBps, _us, _tflops.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"
#include "parplan/model/training.hpp"

namespace parplan {

struct Gpu {
  std::string name = "gpu";
  double memory_bytes = 0;
  double memory_bytes_per_s = 0;  // HBM bandwidth
  // Dense peak FLOP/s per dtype; 0 means the dtype is not supported.
  double peak_flops_bf16 = 0, peak_flops_fp16 = 0, peak_flops_tf32 = 0, peak_flops_fp32 = 0;

  double peak_flops(DType t) const;
};

enum class IntraKind { NvSwitch, NvLink, Pcie, Shm };
enum class Topology { FatTree, Dragonfly, Torus, Star };

struct IntraNode {
  IntraKind kind = IntraKind::NvSwitch;
  double bandwidth_bytes_per_s = 0;  // per GPU, per direction
  double latency_s = 0;
};

struct InterNode {
  Topology topology = Topology::FatTree;
  double nic_bytes_per_s = 0;  // per NIC, per direction
  int64_t nics_per_node = 1;
  double latency_s = 0;
  // Topology shape for the simulator (optional; derived from nodes when 0).
  int64_t fat_tree_levels = 0;        // 0: two-level leaf/spine
  int64_t fat_tree_oversubscription = 1;
  int64_t dragonfly_groups = 0;
  int64_t torus_dims[3] = {0, 0, 0};
};

// The host side, for CPU offload (ZeRO-Offload) and the CPU cluster.
struct Host {
  double memory_bytes = 0;         // per node
  double pcie_bytes_per_s = 0;     // per GPU, host <-> device
  double cpu_adam_params_per_s = 0;  // CPU Adam update rate per GPU's share (params/s)
};

// Physical efficiencies, calibrated once (docs/calibration.md), never per case.
struct Efficiency {
  // Matrix math: fraction of peak reached by a large GEMM, and how it falls for small shapes:
  // eff(m, n, k) = matmul_max * g(m) * g(n) * g(k), g(x) = x / (x + matmul_half_dim).
  double matmul_max = 0.0;
  double matmul_half_dim = 0.0;
  // Memory-bound ops (layernorm, softmax, GELU, dropout, adds): fraction of HBM bandwidth.
  double memory_bound = 0.0;
  // Links: fraction of the nominal bandwidth that collectives reach, by link class.
  double intra_node_link = 0.0;
  double inter_node_link = 0.0;
  // Fragmentation and allocator reserve: fraction of GPU memory not usable.
  double memory_reserve = 0.0;
  // Communication hidden behind compute still slows it (NCCL kernels take SMs and HBM
  // bandwidth): this fraction of the hidden time shows up in the step.
  double overlap_slowdown = 0.0;
};
Efficiency default_efficiency(const Gpu& gpu);

struct Cluster {
  std::string name = "cluster";
  int64_t nodes = 0;
  int64_t gpus_per_node = 0;
  Gpu gpu;
  IntraNode intra;
  InterNode inter;
  Host host;
  Efficiency efficiency;

  int64_t total_gpus() const { return nodes * gpus_per_node; }
};

void validate(const Cluster& c, Diagnostics& d, const std::string& prefix = "cluster");
Cluster cluster_from_json(const nlohmann::json& j, Diagnostics& d,
                          const std::string& prefix = "cluster");
nlohmann::json to_json(const Cluster& c);

const char* to_string(IntraKind k);
const char* to_string(Topology t);

}  // namespace parplan
