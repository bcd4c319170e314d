// `parplan collective --op OP --bytes B|LO..HI --gpus N --cluster C [--json]`: one collective as
// the cost model predicts NCCL runs it, printed the way nccl-tests prints its *_perf tables
// (size, time, algorithm bandwidth, bus bandwidth), over a doubling size sweep for a range.
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "parplan/cost/collectives.hpp"
#include "parplan/cost/nccl_protocols.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
// "8", "64K", "8M", "8G" (powers of 1024, as nccl-tests' -b/-e).
double parse_size(const std::string& s) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = s.substr(used);
  double k = 1;
  if (unit == "K" || unit == "k") k = 1024;
  else if (unit == "M" || unit == "m") k = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") k = 1024.0 * 1024 * 1024;
  else if (!unit.empty()) used = 0;
  if (used == 0 || !(v > 0) || !std::isfinite(v))
    throw Error("--bytes: '" + brief(s, 60) + "' is not a size; use e.g. 8, 64K, 8M, 8G or a range 8..8G");
  // 2^50 bytes (1 PiB) per rank is far above any GPU's memory; beyond it the printed sizes stop
  // meaning anything (1e308 printed a 300-digit size).
  if (v * k > 1125899906842624.0 || v * k < 1)
    throw Error("--bytes: '" + brief(s, 60) + "' must be from 1 byte to 1P (2^50 bytes) per rank");
  return v * k;
}

bool parse_op(const std::string& s, cost::Collective& op) {
  if (s == "all_reduce") op = cost::Collective::AllReduce;
  else if (s == "all_gather") op = cost::Collective::AllGather;
  else if (s == "reduce_scatter") op = cost::Collective::ReduceScatter;
  else if (s == "all_to_all") op = cost::Collective::AllToAll;
  else return false;
  return true;
}
}  // namespace

void add_collective_command(CLI::App& app) {
  struct Args {
    std::string op, bytes, cluster = "dgx-a100-80g";
    int64_t gpus = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "collective", "predicted time and bus bandwidth of one NCCL collective (as nccl-tests)");
  cmd->add_option("--op", a->op, "all_reduce | all_gather | reduce_scatter | all_to_all")
      ->required();
  cmd->add_option("--bytes", a->bytes, "buffer size (8, 64K, 8M, 8G) or a range 8..8G (doubling)")
      ->required();
  cmd->add_option("--gpus", a->gpus, "GPUs in the group (consecutive ranks)")->required();
  cmd->add_option("--cluster,-c", a->cluster, "cluster preset or file")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a] {
    cost::Collective op{};
    if (!parse_op(a->op, op))
      throw Error("--op: unknown '" + a->op +
                  "'; use all_reduce, all_gather, reduce_scatter or all_to_all");
    const Cluster c = load_cluster(a->cluster);
    if (a->gpus < 2 || a->gpus > c.total_gpus())
      throw Error("--gpus: " + std::to_string(a->gpus) + " must be between 2 and the cluster's " +
                  std::to_string(c.total_gpus()) + " GPUs");
    // One group running alone, as nccl-tests measures it: it sits in one NVLink domain when it
    // fits one (a 72-GPU NVL72 rack), else it fills the job's segment of each (cost::lone_group).
    const cost::Group g = cost::lone_group(a->gpus, c);
    const int64_t gpn = g.per_node;
    if (a->gpus > gpn && a->gpus % gpn != 0)
      throw Error("--gpus: " + std::to_string(a->gpus) + " spans NVLink domains but is not a "
                  "multiple of " + std::to_string(gpn) + ", the GPUs a group uses in each domain "
                  "(the job's segment of it); use a multiple of " + std::to_string(gpn));
    double lo = 0, hi = 0;
    const size_t dots = a->bytes.find("..");
    if (dots == std::string::npos) {
      lo = hi = parse_size(a->bytes);
    } else {
      lo = parse_size(a->bytes.substr(0, dots));
      hi = parse_size(a->bytes.substr(dots + 2));
      if (hi < lo) throw Error("--bytes: the range " + a->bytes + " ends below its start");
    }
    nlohmann::json rows = nlohmann::json::array();
    if (!a->json)
      std::cout << "# " << cost::to_string(op) << " on " << a->gpus << " GPUs of " << c.name
                << " (predicted)\n"
                << "#        size   time(us)  algbw(GB/s)  busbw(GB/s)  algorithm\n";
    for (double b = lo; b <= hi * (1 + 1e-12); b *= 2) {
      const auto e = cost::collective_estimate(op, b, g, c);
      const double algbw = b / e.time_s / 1e9;
      const double busbw = algbw * cost::bus_bandwidth_factor(op, a->gpus);
      const std::string algo =
          std::string(cost::to_string(e.algo)) + "/" + cost::to_string(e.proto);
      rows.push_back({{"bytes", b},
                      {"time_s", e.time_s},
                      {"algorithm_bandwidth_GBps", algbw},
                      {"bus_bandwidth_GBps", busbw},
                      {"algorithm", algo}});
      if (!a->json)
        std::cout << fmt("%14.0f ", b) << fmt("%10.2f ", e.time_s * 1e6) << fmt("%12.2f ", algbw)
                  << fmt("%12.2f  ", busbw) << algo << "\n";
      if (lo == hi) break;
    }
    if (a->json) std::cout << (lo == hi ? rows[0] : rows).dump(2) << "\n";
  });
}

}  // namespace parplan::cli
