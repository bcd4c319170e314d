// `parplan calibrate --nccl-tests FILE --cluster C --out FILE [--op OP] [--gpus N]`: reads an
// nccl-tests *_perf output (the standard table: size count type redop root time algbw busbw
// #wrong ...), fits the link efficiency from the largest messages' bus bandwidth and the Simple
// per-step latency from the smallest messages' time (NCCL's LL protocol: base 6.6 us + steps x
// 0.6/3.4 of the Simple step, cost/src/collectives.cpp), and writes the cluster with them.
// Served by the planning binary (no LibTorch); other `calibrate` forms go to parplan-run.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "inputs.hpp"
#include "option_checks.hpp"
#include "parplan/cost/collectives.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
struct Row {
  double bytes, time_s, busbw;
};
constexpr int64_t kMaxRanks = int64_t(1) << 20;  // more GPUs than any cluster has
constexpr double kMaxBytes = 1125899906842624.0;   // 2^50: nccl-tests sizes are far below
// A whole token as a double ("1e308x" is not; "nan" and "inf" are, and the range checks refuse
// them). Out of a double's range ("1e999") is not a number either.
bool number(const std::string& t, double& out) {
  try {
    size_t used = 0;
    out = std::stod(t, &used);
    return used == t.size();
  } catch (const std::exception&) {
    return false;
  }
}
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
  cmd->add_option("--gpus", a->gpus, "ranks in the test (default: the '#  Rank' lines)")
      ->check(int_range(2, kMaxRanks));
  cmd->callback([a, cmd] {
    // Outputs first (docs/errors.md): the policy, and this command never replaces a file.
    check_out(cmd, "--out", a->out, {a->file, a->cluster}, false);
    if (::access(a->out.c_str(), F_OK) == 0)
      throw Error("--out: '" + brief(a->out, 200) + "' exists; choose a new file (nothing is "
                  "overwritten)");
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
    // The guarded reader: a regular file of at most 64 MiB (no /dev/zero, FIFO or directory).
    std::istringstream in(read_file(a->file));
    std::vector<Row> rows;
    int64_t ranks = 0;
    std::string line;
    for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
      if (line.rfind("#  Rank", 0) == 0) ++ranks;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ss(line);
      std::vector<std::string> tok;
      for (std::string t; ss >> t;) tok.push_back(t);
      if (tok.size() < 8) continue;
      double bytes = 0;
      if (!number(tok[0], bytes)) continue;  // not a result row (a header or a note)
      double time_us = 0, busbw = 0;
      const std::string where = "--nccl-tests '" + brief(a->file, 200) + "' line " +
                                std::to_string(line_no) + ": ";
      if (!(bytes >= 1 && bytes <= kMaxBytes && bytes == std::floor(bytes)))
        throw Error(where + "size must be a whole number of bytes from 1 to 2^50, got " +
                    brief(tok[0], 40) + "; pass an unedited nccl-tests output");
      if (!number(tok[5], time_us) || !(time_us > 0 && time_us <= 1e12))
        throw Error(where + "time must be a finite number of microseconds > 0, got " +
                    brief(tok[5], 40) + "; pass an unedited nccl-tests output");
      if (!number(tok[7], busbw) || !(busbw >= 0 && busbw <= 1e6))
        throw Error(where + "busbw must be a finite number of GB/s from 0 to 1e6, got " +
                    brief(tok[7], 40) + "; pass an unedited nccl-tests output");
      rows.push_back({bytes, time_us * 1e-6, busbw});
    }
    if (ranks > kMaxRanks)
      throw Error("--nccl-tests: '" + brief(a->file, 200) + "' lists more than " +
                  std::to_string(kMaxRanks) + " '#  Rank' lines; pass --gpus");
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
    for (const auto& [key, value] : fitted.items())
      if (!std::isfinite(value.get<double>()))
        throw Error("--nccl-tests: the fit of " + key + " is not a finite number; the rows of '" +
                    brief(a->file, 200) + "' do not describe a collective (check the file)");
    c.name += "-nccl";
    write_file_atomic(a->out, to_json(c).dump(2) + "\n");
    std::cout << "fitted from " << rows.size() << " rows of " << op_name << " on " << ranks
              << " ranks (largest " << big.bytes << " B: busbw " << big.busbw
              << " GB/s; smallest " << small.bytes << " B: " << small.time_s * 1e6 << " us)\n"
              << fitted.dump(2) << "\nwrote " << a->out << "\n";
  });
}

}  // namespace parplan::cli
