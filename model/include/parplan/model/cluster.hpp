#pragma once
// GPUs, nodes, links, topology, and the few calibrated efficiencies (docs/design.md "Inputs").
// Internal units are SI: bytes, seconds, FLOP/s, bytes/s. JSON uses _GiB, _GBps, _us, _tflops.
#include <algorithm>
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
  double peak_flops_fp8 = 0;  // dense FP8 tensor-core peak (Hopper and later)
  // Block-scaled formats of Blackwell's fifth-generation tensor cores (OCP MX, NVIDIA NVFP4):
  // dense peaks; 0 means the GPU has no such tensor cores (Hopper and older), so the MXFP8 and
  // NVFP4 recipes are refused there (cost/fp8.hpp: recipe_support).
  double peak_flops_mxfp8 = 0, peak_flops_nvfp4 = 0;
  // Architecture generation (ampere, hopper, blackwell, cpu, ...): selects the GEMM-efficiency
  // defaults when the cluster file gives none. "" : inferred from the peaks.
  std::string generation;
  // Host time per eager operator (framework dispatch, autograd recording and the backward node;
  // on a GPU the kernel launch), forward and backward, per operator run (cost/host_overhead.hpp).
  // 0: not modelled (GPU presets: launches overlap with running kernels).
  double op_overhead_s = 0;
  // Fixed costs and the sustained clock (cost/floors.hpp, docs/cost-model.md "Floors"); a value
  // < 0 (absent from the file) takes the generation's default (cost::gpu_floors).
  struct Floors {
    double kernel_launch_s = -1;  // host: one CUDA kernel launch (cudaLaunchKernel)
    double kernel_device_s = -1;  // device: per kernel beyond its work (ramp-up, tail, gap)
    int64_t sm_count = 0;         // streaming multiprocessors (GEMM tile waves); 0: generation's
    double tdp_W = 0;             // rated board power the peaks are quoted at; 0: generation's
    double power_limit_W = 0;     // the power cap the GPUs ran at; 0: the TDP (no cap)
    // Special-function-unit exponentials per second (MUFU.EX2, softmax's exp in a flash attention
    // kernel); 0: the generation's (cost/floors.cpp)
    double exp_per_s = 0;
    // host: one item of one local expert's turn of a framework's per-expert loop around a grouped
    // GEMM (framework host.expert_loop_us, for frameworks that loop; <0: the shipped fit's value)
    double expert_loop_s = -1;
    // Host time per Python module / autograd-Function call, per pass, beyond its kernels (framework
    // host.module_call_us, for frameworks that count module calls; <0: the shipped fit's value)
    double module_call_s = -1;
  } floors;

  double peak_flops(DType t) const;
};

enum class IntraKind { NvSwitch, NvLink, Pcie, Shm };
enum class Topology { FatTree, Dragonfly, Torus, Star };

struct IntraNode {
  IntraKind kind = IntraKind::NvSwitch;
  double bandwidth_bytes_per_s = 0;  // per GPU, per direction
  double latency_s = 0;
  bool nvls = false;  // NVLink SHARP: in-switch reductions (NVSwitch gen 3, H100/H200 HGX)
  // Share of bandwidth_GBps an NVLS collective reaches (the switch's reduction throughput, per
  // NVSwitch generation; 0: the NVSwitch 3 fit, cost/src/nccl_protocols.cpp kNvlsShare).
  double nvls_share = 0;
  // Fixed cost per call as training issues it (blocking, between compute), beyond latency_us
  // and the bytes: the backend's thread hand-offs and wake-ups (measured by `parplan calibrate`;
  // 0: not modelled). An all-to-all pays send_recv once per peer.
  struct CallOverhead {
    double all_reduce = 0, all_gather = 0, reduce_scatter = 0, send_recv = 0;
    // A data-parallel collective issued on a communication thread while the compute thread runs
    // (overlapped with the backward), on a host whose cores the compute threads fill: seconds per
    // call beyond the same collective issued blocking (`parplan calibrate`; 0 on GPUs).
    double concurrent = 0;
    // The expected wait of a blocking collective for the last rank to arrive, beyond the typical
    // (median) call: a host whose ranks share its cores stalls one rank now and then (a thread
    // woken late), and each synchronising call pays the slower rank's stall. Seconds per call,
    // on every call above (per peer of an all-to-all): `parplan calibrate`'s mean − median of the
    // calls between compute, beyond the compute's own; 0 (GPU presets): not modelled.
    double sync_wait = 0;
  } call_overhead_s;
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
  bool sharp = false;  // in-network reductions on the fabric (InfiniBand SHARP / CollNet)
};

// The host side, for CPU offload (ZeRO-Offload) and the CPU cluster.
struct Host {
  double memory_bytes = 0;         // per node
  double pcie_bytes_per_s = 0;     // per GPU, host <-> device
  double cpu_adam_params_per_s = 0;  // CPU Adam update rate per GPU's share (params/s)
  double nvme_bytes = 0;             // per node, for ZeRO-Infinity NVMe offload (0: none)
  double nvme_bytes_per_s = 0;       // per node, read/write

  // Host <-> device bytes/s per GPU; unknown (0) is taken as PCIe Gen4 x16's ~25 GB/s achieved
  // (32 GB/s raw per direction), what a DGX A100's GPUs have.
  static constexpr double kDefaultPcieBytesPerS = 25e9;
  double pcie_or_default() const {
    return pcie_bytes_per_s > 0 ? pcie_bytes_per_s : kDefaultPcieBytesPerS;
  }
};

// What a GPU-hour costs, in money and energy (cost/run.cpp).
struct Economics {
  double price_per_gpu_hour = 0;  // 0: unknown
  std::string currency = "USD";
  double gpu_power_W = 0;         // board power at training load
  double node_overhead_W = 0;     // CPUs, NICs, fans, ... per node
  double pue = 1.0;               // data-centre power usage effectiveness (>= 1)
};

// Failures and checkpoints (goodput: Young 1974 / Daly 2006 checkpoint interval).
struct Reliability {
  double failures_per_gpu_hour = 0;  // job-interrupting failures, per GPU-hour (0: unknown)
  double restart_s = 0;              // detect, reschedule, reload after a failure
  double checkpoint_bytes_per_s = 0; // aggregate checkpoint storage write bandwidth (0: unknown)
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
// The GPU's generation: gpu.generation, else inferred from its BF16 peak ("" for none).
std::string gpu_generation(const Gpu& gpu);
// The cited starting values of the corpus fit (docs/calibration.md), per generation.
Efficiency prior_efficiency(const Gpu& gpu);
// The shipped defaults: the priors as the fit on the whole corpus moved them
// (examples/calibration/efficiency.json); what a cluster file without "efficiency" gets.
Efficiency default_efficiency(const Gpu& gpu);
// A fitted default of examples/calibration/efficiency.json for `generation` (or "*"), else
// `prior`. Keys: the Efficiency fields and kernel_launch_us / kernel_device_us (in us).
double calibrated_default(const std::string& generation, const char* key, double prior);

struct Cluster {
  std::string name = "cluster";
  int64_t nodes = 0;
  int64_t gpus_per_node = 0;
  Gpu gpu;
  IntraNode intra;
  InterNode inter;
  Host host;
  Efficiency efficiency;
  Economics economics;
  Reliability reliability;
  int64_t job_gpus = 0;  // GPUs the job gets when the command gives no --gpus; 0: must be given
  // NVLink domain: the GPUs that reach each other over NVLink/NVSwitch (intra_node's bandwidth,
  // latency and nvls are its fabric's). A node is what shares host memory, PCIe and NICs. HGX/DGX:
  // the node (0 = gpus_per_node); GB200/GB300 NVL72: 72 GPUs over 18 trays of 4.
  int64_t nvlink_domain_gpus = 0;
  // GPUs of each NVLink domain a large job is placed on (topology-aware scheduling; 0 = the whole
  // domain). GB200/GB300 NVL72: 64, Slurm topology/block segments of 16 trays, NVIDIA's advice for
  // jobs of 128+ GPUs (docs/presets.md); the rack's other 2 trays run other jobs or stand by.
  int64_t nvlink_domain_segment_gpus = 0;

  int64_t total_gpus() const { return nodes * gpus_per_node; }
  // The physical NVLink domain.
  int64_t nvlink_domain() const { return nvlink_domain_gpus > 0 ? nvlink_domain_gpus : gpus_per_node; }
  // The GPUs of one NVLink domain a job's ranks fill before the next domain (Megatron rank order
  // over a topology-aware allocation): every placement (collectives, search, rules, simulator).
  int64_t domain_gpus() const {
    return nvlink_domain_segment_gpus > 0 ? std::min(nvlink_domain_segment_gpus, nvlink_domain())
                                          : nvlink_domain();
  }
  // GPUs a job can be placed on under that segmentation (all of them without one).
  int64_t placeable_gpus() const { return total_gpus() / nvlink_domain() * domain_gpus(); }
};

void validate(const Cluster& c, Diagnostics& d, const std::string& prefix = "cluster");
Cluster cluster_from_json(const nlohmann::json& j, Diagnostics& d,
                          const std::string& prefix = "cluster");
nlohmann::json to_json(const Cluster& c);

const char* to_string(IntraKind k);
const char* to_string(Topology t);

}  // namespace parplan
