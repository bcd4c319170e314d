// search_bench: how fast the planner searches the reference cases. Prints one row per case and
// thread count: the layouts of the space, how many the cost model evaluated (memory), predicted
// (step time) and the search pruned (time bound / memory implication), wall time (best of
// --repeat runs) and CPU time of all threads (so other load on the machine counts less), the
// layouts evaluated per CPU-second (per core) and the space covered per CPU-second, and the best
// layout with its predicted step time.
//   search_bench [--repeat N] [--threads T] [--case TEXT] [--check]
//   T: the multi-threaded run, default all cores; TEXT: only the cases whose name contains it;
//   --check: also run the exhaustive search (no pruning) and compare the top 10 (layouts and
//   step times, in order): "identical" or the first difference.
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
    // GB200 NVL72: 72-GPU NVLink domains (TP/CP/EP groups up to 72 GPUs stay on NVLink).
    {"llama3-405b / 1024 GB200", "llama3-405b", "gb200-nvl72", "llama3-8k", 1024},
    {"deepseek-v3 / 1024 GB200", "deepseek-v3", "gb200-nvl72", "deepseek-v3-4k", 1024},
};

double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }  // process, all threads

std::string compare_top(const parplan::planner::SearchResult& a,
                        const parplan::planner::SearchResult& b) {
  if (a.top.size() != b.top.size())
    return "DIFFERENT sizes " + std::to_string(a.top.size()) + " vs " + std::to_string(b.top.size());
  for (size_t i = 0; i < a.top.size(); ++i)
    if (!(a.top[i].layout == b.top[i].layout) ||
        a.top[i].cost.step_time_s != b.top[i].cost.step_time_s)
      return "DIFFERENT at " + std::to_string(i + 1) + ": " + parplan::describe(a.top[i].layout) +
             " vs " + parplan::describe(b.top[i].layout);
  return "identical";
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  std::string only;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--check") {
      check = true;
    } else if (i + 1 < argc && a == "--repeat") {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (i + 1 < argc && a == "--threads") {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (i + 1 < argc && a == "--case") {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: search_bench [--repeat N] [--threads T] [--case TEXT] [--check]\n");
      return 2;
    }
  }
  try {
    std::printf("%-25s %5s %2s %10s %9s %8s %9s %9s %7s %7s %9s %9s  %s\n", "case", "GPUs", "th",
                "layouts", "evaluated", "predicted", "t_pruned", "m_pruned", "wall_s", "cpu_s",
                "eval/cpus", "space/cpus", "best layout: step_s");
    for (const Case& c : kCases) {
      if (!only.empty() && std::string(c.name).find(only) == std::string::npos) continue;
      const auto m = parplan::load_model(c.model);
      const auto cl = parplan::load_cluster(c.cluster);
      const auto t = parplan::load_training(c.train);
      parplan::planner::SearchResult first;
      for (int th : {threads, 1}) {
        parplan::planner::SearchResult best_run;
        double wall = 1e30, cpu = 1e30;
        for (int r = 0; r < repeat; ++r) {
          parplan::planner::SearchOptions o;
          o.gpus = c.gpus;
          o.threads = th;
          const double c0 = cpu_seconds();
          auto res = parplan::planner::search(m, cl, t, o);
          cpu = std::min(cpu, cpu_seconds() - c0);
          if (res.search_time_s < wall) {
            wall = res.search_time_s;
            best_run = std::move(res);
          }
        }
        const double cpu_s = std::max(cpu, 1e-9);
        std::string best = best_run.top.empty()
                               ? "nothing fits"
                               : parplan::describe(best_run.top.front().layout) + ": " +
                                     std::to_string(best_run.top.front().cost.step_time_s) + " s";
        std::printf("%-25s %5lld %2d %10lld %9lld %8lld %9lld %9lld %7.3f %7.3f %9.3g %9.3g  %s\n",
                    c.name, static_cast<long long>(c.gpus), th,
                    static_cast<long long>(best_run.layouts),
                    static_cast<long long>(best_run.evaluated),
                    static_cast<long long>(best_run.predicted),
                    static_cast<long long>(best_run.time_pruned),
                    static_cast<long long>(best_run.memory_pruned), wall, cpu,
                    double(best_run.evaluated) / cpu_s, double(best_run.layouts) / cpu_s,
                    best.c_str());
        std::fflush(stdout);
        if (th == threads) first = std::move(best_run);
        if (threads == 1) break;
      }
      if (check) {
        parplan::planner::SearchOptions o;
        o.gpus = c.gpus;
        o.threads = threads;
        o.exhaustive = true;
        const double c0 = cpu_seconds();
        const auto full = parplan::planner::search(m, cl, t, o);
        std::printf("%-25s exhaustive: %lld evaluated, %lld predicted, %.1f cpu_s; top 10: %s\n",
                    c.name, static_cast<long long>(full.evaluated),
                    static_cast<long long>(full.predicted), cpu_seconds() - c0,
                    compare_top(first, full).c_str());
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
