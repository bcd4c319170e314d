// sim_bench: simulates one training step of gpt3-175b (TP 8, PP 8, 1F1B, DP as needed) on 64, 512
// and 1,024 A100 GPUs, each in a fresh child process, and prints wall time, the child's peak
// memory (getrusage maxrss), simulated events per second, and simulated vs analytical step time.
// Usage: sim_bench [--all-replicas] [GPUS...]
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "parplan/model/io.hpp"
#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/worker.hpp"

using namespace parplan;

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  sim::SimOptions opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--all-replicas") == 0)
      opt.aggregate_replicas = false;
    else
      sizes.push_back(std::stoll(argv[i]));
  }
  if (sizes.empty()) sizes = {64, 512, 1024};
  std::printf("%-6s %-22s %-6s %-10s %-10s %-10s %-12s %-12s %-12s\n", "gpus", "layout", "sim'd",
              "wall_s", "maxrss_MiB", "events", "events/s", "sim_step_s", "analytic_s");
  for (int64_t gpus : sizes) {
    Plan p;
    p.model = load_model("gpt3-175b");
    p.cluster = load_cluster("dgx-a100-80g");
    p.training = load_training("gpt3-1536");
    p.layout.tp = 8;
    p.layout.pp = 8;
    p.layout.dp = static_cast<int32_t>(gpus / 64);
    p.layout.zero = 1;
    p.layout.recompute = Recompute::Selective;
    p.layout.sequence_parallel = true;
    p.layout.schedule = Schedule::OneFOneB;
    try {
      auto j = sim::run_in_child(
          [&] {
            auto r = sim::simulate_step(p, opt);
            rusage u{};
            getrusage(RUSAGE_SELF, &u);
            auto out = sim::to_json(r);
            out["maxrss_kib"] = u.ru_maxrss;
            return out;
          },
          600);
      const double wall = j["wall_s"].get<double>();
      const double events = j["events"].get<double>();
      std::printf("%-6lld %-22s %-6lld %-10.2f %-10.1f %-10.0f %-12.0f %-12.3f %-12.3f\n",
                  static_cast<long long>(gpus),
                  ("dp" + std::to_string(p.layout.dp) + " tp8 pp8 1f1b").c_str(),
                  static_cast<long long>(j["simulated_gpus"].get<int64_t>()), wall,
                  j["maxrss_kib"].get<double>() / 1024.0, events, events / wall,
                  j["step_time_s"].get<double>(), j["analytical_step_time_s"].get<double>());
    } catch (const std::exception& e) {
      std::printf("%-6lld failed: %s\n", static_cast<long long>(gpus), e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}
