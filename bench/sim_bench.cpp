// sim_bench: simulates one training step of several layouts, each in a fresh child process, and
// prints wall time, the child's CPU time and peak memory (getrusage), simulated events per second, and
// simulated vs analytical step time:
// - gpt3-175b (TP 8, PP 8, 1F1B, ZeRO-1, DP as needed) on 64, 512 and 1,024 A100 GPUs;
// - Llama-2 7B in pure DP on 1,024 A100 (ZeRO-1, micro-batch 1, sequence 4,096);
// - Llama-2 7B under FSDP (torchtitan fsdp2, ZeRO-3) on 1,024 A100;
// - DeepSeek-V3 with EP 64 on 1,024 H800 (PP 16, DP 64, the published training setup, plain
//   token routing);
// - the GPT-3, pure-DP and EP-64 cases again on 1,024 GB200 NVL72 (72-GPU NVLink domains);
// - Llama 3 405B on 1,024 GB200 NVL72 as `parplan plan -m llama3-405b -c gb200-nvl72 -t llama3-8k
//   -g 1024` picks it (dp32 tp4 cp2 pp4 interleaved v=8, 2026-12-07).
// Goal (docs/simulation.md "Speed"): each under 5 s and 2 GiB, simulated / analytical within 5%.
// Usage: sim_bench [--all-replicas] [CASE...]   (cases: gpt3-64 gpt3-512 gpt3-1024 dp-1024
// fsdp-1024 ep64-1024 gpt3-1024-nvl72 dp-1024-nvl72 ep64-1024-nvl72 llama405-1024-nvl72; default all)
#include <sys/resource.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../tests/support/preset_plan.hpp"
#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/worker.hpp"

using namespace parplan;

namespace {

struct Case {
  std::string name;
  std::function<Plan()> plan;
};

Plan gpt3(int64_t gpus, const char* cluster = "dgx-a100-80g") {
  return test::preset_plan("gpt3-175b", cluster, "gpt3-1536",
                           {.dp = static_cast<int32_t>(gpus / 64), .tp = 8, .pp = 8, .zero = 1,
                            .recompute = Recompute::Selective, .sequence_parallel = true,
                            .schedule = Schedule::OneFOneB});
}

Plan llama2_7b_dp(int zero, const char* framework, const char* cluster = "dgx-a100-80g") {
  Plan p = test::preset_plan("llama2-7b", cluster, "gpt3-1536",
                             {.dp = 1024, .micro_batch = 1, .zero = zero,
                              .recompute = Recompute::Selective});
  p.training.framework = framework;
  p.training.seq_len = 4096;
  p.training.global_batch = 1024;
  return p;
}

Plan deepseek_ep64(const char* cluster = "h800-2048") {
  Plan p = test::preset_plan("deepseek-v3", cluster, "deepseek-v3-4k",
                             {.dp = 64, .pp = 16, .micro_batch = 1, .zero = 1,
                              .recompute = Recompute::Selective, .ep = 64,
                              .first_stage_layers = 3, .last_stage_layers = 2});
  // Plain token routing (every routed copy sent), which the simulation's all-to-alls send; the
  // node-limited routing of the report (4 of 8 groups) the cost model prices is not simulated.
  p.model.moe.groups = p.model.moe.groups_per_token = 0;
  p.training.global_batch = 1024;
  return p;
}

Plan llama3_405b_nvl72() {
  return test::preset_plan("llama3-405b", "gb200-nvl72", "llama3-8k",
                           {.dp = 32, .tp = 4, .pp = 4, .cp = 2, .micro_batch = 1, .zero = 1,
                            .recompute = Recompute::None, .sequence_parallel = true,
                            .schedule = Schedule::Interleaved, .virtual_stages = 8});
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Case> all = {
      {"gpt3-64", [] { return gpt3(64); }},
      {"gpt3-512", [] { return gpt3(512); }},
      {"gpt3-1024", [] { return gpt3(1024); }},
      {"dp-1024", [] { return llama2_7b_dp(1, "megatron-core"); }},
      {"fsdp-1024", [] { return llama2_7b_dp(3, "fsdp2"); }},
      {"ep64-1024", [] { return deepseek_ep64(); }},
      // GB200 NVL72: 72-GPU NVLink domains, a job on 64 GPUs (16 trays) of each of 16 racks.
      {"gpt3-1024-nvl72", [] { return gpt3(1024, "gb200-nvl72"); }},
      {"dp-1024-nvl72", [] { return llama2_7b_dp(1, "megatron-core", "gb200-nvl72"); }},
      {"ep64-1024-nvl72", [] { return deepseek_ep64("gb200-nvl72"); }},
      {"llama405-1024-nvl72", llama3_405b_nvl72},
  };
  std::vector<std::string> names;
  sim::SimOptions opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--all-replicas") == 0)
      opt.aggregate_replicas = false;
    else
      names.push_back(argv[i]);
  }
  std::printf("%-10s %-6s %-30s %-6s %-8s %-8s %-10s %-10s %-10s %-11s %-11s %-7s\n", "case",
              "gpus", "layout", "sim'd", "wall_s", "cpu_s", "maxrss_MiB", "events", "events/s",
              "sim_step_s", "analytic_s", "ratio");
  for (const auto& c : all) {
    if (!names.empty() && std::find(names.begin(), names.end(), c.name) == names.end()) continue;
    const Plan p = c.plan();
    try {
      auto j = sim::run_in_child(
          [&] {
            auto r = sim::simulate_step(p, opt);
            rusage u{};
            getrusage(RUSAGE_SELF, &u);
            auto out = sim::to_json(r);
            out["maxrss_kib"] = u.ru_maxrss;
            out["cpu_s"] = double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                           1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
            return out;
          },
          600);
      const double wall = j["wall_s"].get<double>();
      const double events = j["events"].get<double>();
      const double sim_s = j["step_time_s"].get<double>();
      const double ana_s = j["analytical_step_time_s"].get<double>();
      std::string layout = describe(p.layout);
      if (layout.size() > 30) layout.resize(30);
      std::printf(
          "%-10s %-6lld %-30s %-6lld %-8.2f %-8.2f %-10.1f %-10.0f %-10.0f %-11.4f %-11.4f %-7.3f\n",
          c.name.c_str(), static_cast<long long>(p.layout.gpus()), layout.c_str(),
          static_cast<long long>(j["simulated_gpus"].get<int64_t>()), wall,
          j["cpu_s"].get<double>(),
          j["maxrss_kib"].get<double>() / 1024.0, events, events / wall, sim_s, ana_s,
          ana_s > 0 ? sim_s / ana_s : 0.0);
      for (const auto& d : j.value("differences", nlohmann::json::array()))
        std::printf("%-10s   %-8s sim %.4f s  analytical %.4f s\n", "", d["part"].get<std::string>().c_str(),
                    d["simulated_s"].get<double>(), d["analytical_s"].get<double>());
    } catch (const std::exception& e) {
      std::printf("%-10s failed: %s\n", c.name.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}
