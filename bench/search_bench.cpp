// search_bench: how fast the planner searches the reference cases. Prints one row per case and
// thread count: layouts evaluated, feasible, wall time (best of --repeat runs), evaluations per
// second overall (wall time) and per core (CPU time of all threads, so other load on the machine
// does not count against it), and the best layout with its predicted step time.
//   search_bench [--repeat N] [--threads T]   (T: the multi-threaded run; default all cores)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "parplan/model/io.hpp"
#include "parplan/planner/search.hpp"

namespace {

struct Case {
  const char* name;
  const char* model;
  const char* cluster;
  const char* train;
  int64_t gpus;
};

constexpr Case kCases[] = {
    {"gpt3-175b / 1024 A100", "gpt3-175b", "dgx-a100-80g", "gpt3-1536", 1024},
    {"gpt3-175b / 4096 A100", "gpt3-175b", "dgx-a100-80g", "gpt3-1536", 4096},
    {"llama3-405b / 16384 H100", "llama3-405b", "dgx-h100-80g", "llama3-8k", 16384},
    {"mixtral-8x7b / 256 H100", "mixtral-8x7b", "dgx-h100-80g", "llama3-8k", 256},
    {"deepseek-v3 / 2048 H800", "deepseek-v3", "h800-2048", "deepseek-v3-4k", 2048},
};

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--repeat")
      repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--threads")
      threads = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: search_bench [--repeat N] [--threads T]\n");
      return 2;
    }
  }
  try {
    std::printf("%-26s %6s %7s %10s %9s %9s %8s %8s %10s %10s  %s\n", "case", "GPUs", "threads",
                "evaluated", "feasible", "pruned", "wall_s", "cpu_s", "evals/s", "per_core",
                "best layout: step_s");
    for (const Case& c : kCases) {
      const auto m = parplan::load_model(c.model);
      const auto cl = parplan::load_cluster(c.cluster);
      const auto t = parplan::load_training(c.train);
      for (int th : {threads, 1}) {
        parplan::planner::SearchResult best_run;
        double wall = 1e30, cpu = 1e30;
        for (int r = 0; r < repeat; ++r) {
          parplan::planner::SearchOptions o;
          o.gpus = c.gpus;
          o.threads = th;
          const std::clock_t c0 = std::clock();  // process CPU time, all threads
          auto res = parplan::planner::search(m, cl, t, o);
          cpu = std::min(cpu, double(std::clock() - c0) / CLOCKS_PER_SEC);
          if (res.search_time_s < wall) {
            wall = res.search_time_s;
            best_run = std::move(res);
          }
        }
        const double rate = double(best_run.evaluated) / wall;
        const double per_core = double(best_run.evaluated) / std::max(cpu, 1e-9);
        std::string best = best_run.top.empty()
                               ? "nothing fits"
                               : parplan::describe(best_run.top.front().layout) + ": " +
                                     std::to_string(best_run.top.front().cost.step_time_s) + " s";
        std::printf("%-26s %6lld %7d %10lld %9lld %9lld %8.3f %8.3f %10.3g %10.3g  %s\n", c.name,
                    static_cast<long long>(c.gpus), th, static_cast<long long>(best_run.evaluated),
                    static_cast<long long>(best_run.feasible),
                    static_cast<long long>(best_run.time_pruned), wall, cpu, rate, per_core,
                    best.c_str());
        if (threads == 1) break;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
