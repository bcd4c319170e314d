// `parplan calibrate --nccl-tests FILE --cluster C --out FILE [--op OP] [--gpus N]`: reads an
// nccl-tests *_perf output (the standard table: size count type redop root time algbw busbw
// #wrong ...), fits the link efficiency from the largest messages' bus bandwidth and the Simple
// per-step latency from the smallest messages' time (NCCL's LL protocol: base 6.6 us + steps x
// 0.6/3.4 of the Simple step, cost/src/collectives.cpp), and writes the cluster with them.
// Served by the planning binary (no LibTorch); other `calibrate` forms go to parplan-run.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "parplan/cost/collectives.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
struct Row {
  double bytes, time_s, busbw;
};
}  // namespace

void add_calibrate_nccl_command(CLI::App& app) {
  struct Args {
    std::string file, cluster = "dgx-a100-80g", out, op;
    int64_t gpus = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("calibrate",
                                 "fit link parameters from nccl-tests output (--nccl-tests); "
                                 "other forms: parplan-run calibrate");
  cmd->add_option("--nccl-tests", a->file, "an nccl-tests *_perf output file")->required();
  cmd->add_option("--cluster,-c", a->cluster, "cluster preset or file to start from")
      ->capture_default_str();
  cmd->add_option("--out,-o", a->out, "cluster file to write (must not exist)")->required();
  cmd->add_option("--op", a->op, "all_reduce | all_gather | reduce_scatter (default: from the "
                                 "file name)");
  cmd->add_option("--gpus", a->gpus, "ranks in the test (default: the '#  Rank' lines)");
  cmd->callback([a] {
    std::string op_name = a->op;
    for (const char* n : {"all_reduce", "all_gather", "reduce_scatter"})
      if (op_name.empty() && a->file.find(n) != std::string::npos) op_name = n;
    cost::Collective op{};
    if (op_name == "all_reduce") op = cost::Collective::AllReduce;
    else if (op_name == "all_gather") op = cost::Collective::AllGather;
    else if (op_name == "reduce_scatter") op = cost::Collective::ReduceScatter;
    else
      throw Error("--op: give all_reduce, all_gather or reduce_scatter (the file name '" +
                  a->file + "' does not say which test it is)");
    std::ifstream in(a->file);
    if (!in) throw Error("--nccl-tests: cannot open '" + a->file + "'; check the path");
    std::vector<Row> rows;
    int64_t ranks = 0;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("#  Rank", 0) == 0) ++ranks;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ss(line);
      std::vector<std::string> tok;
      for (std::string t; ss >> t;) tok.push_back(t);
      if (tok.size() < 8) continue;
      try {
        size_t used = 0;
        const double bytes = std::stod(tok[0], &used);
        if (used != tok[0].size()) continue;
        rows.push_back({bytes, std::stod(tok[5]) * 1e-6, std::stod(tok[7])});
      } catch (const std::exception&) {
        continue;
      }
    }
    if (a->gpus > 0) ranks = a->gpus;
    if (rows.size() < 2)
      throw Error("--nccl-tests: '" + a->file + "' has fewer than 2 result rows; pass the output "
                  "of e.g. all_reduce_perf -b 8 -e 8G -f 2 -g 8");
    if (ranks < 2)
      throw Error("--gpus: the file lists no '#  Rank' lines; give the number of ranks");
    Cluster c = load_cluster(a->cluster);
    std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.bytes < y.bytes; });
    const Row& big = rows.back();
    const Row& small = rows.front();
    const int64_t gpn = std::max<int64_t>(1, c.gpus_per_node);
    const bool multi = ranks > gpn;
    const double n = double(ranks);
    const double steps = (op == cost::Collective::AllReduce ? 2 : 1) * (n - 1);
    nlohmann::json fitted;
    if (!multi) {
      c.efficiency.intra_node_link = std::clamp(big.busbw * 1e9 / c.intra.bandwidth_bytes_per_s, 0.01, 1.0);
      c.intra.latency_s = std::max(0.1e-6, (small.time_s - 6.6e-6) / (steps * 0.6 / 3.4));
      fitted = {{"efficiency.intra_node_link", c.efficiency.intra_node_link},
                {"intra_node.latency_us", c.intra.latency_s * 1e6}};
    } else {
      // Whole nodes: NCCL's rings leave each node through all its NICs (node aggregate).
      const double nodes = std::ceil(n / double(gpn));
      const double agg = c.inter.nic_bytes_per_s * double(c.inter.nics_per_node);
      c.efficiency.inter_node_link = std::clamp(big.busbw * 1e9 / agg, 0.01, 1.0);
      const double inter_steps = (op == cost::Collective::AllReduce ? 2 : 1) * (nodes - 1);
      const double rest = small.time_s - 6.6e-6 -
                          (steps - inter_steps) * c.intra.latency_s * 0.6 / 3.4 * 1.8;
      c.inter.latency_s =
          std::max(0.1e-6, rest / (inter_steps * 2.7 / 9.6) - c.intra.latency_s);
      fitted = {{"efficiency.inter_node_link", c.efficiency.inter_node_link},
                {"inter_node.latency_us", c.inter.latency_s * 1e6}};
    }
    if (std::ifstream(a->out).good())
      throw Error("--out: '" + a->out + "' exists; choose a new file (nothing is overwritten)");
    c.name += "-nccl";
    write_file_atomic(a->out, to_json(c).dump(2) + "\n");
    std::cout << "fitted from " << rows.size() << " rows of " << op_name << " on " << ranks
              << " ranks (largest " << big.bytes << " B: busbw " << big.busbw
              << " GB/s; smallest " << small.bytes << " B: " << small.time_s * 1e6 << " us)\n"
              << fitted.dump(2) << "\nwrote " << a->out << "\n";
  });
}

}  // namespace parplan::cli
