// sweep_bench: how long `parplan sweep` takes for the reference cases (the goal: the whole sweep
// over 9 GPU counts for llama3-405b in under 5 s on 2 cores). Prints one row per case: GPU
// counts, wall and CPU seconds (best of --repeat runs), and the knee of the Pareto front.
//   sweep_bench [--repeat N] [--threads T]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "parplan/model/io.hpp"
#include "parplan/planner/sweep.hpp"

namespace {

struct Case {
  const char* name;
  const char* model;
  const char* cluster;
  const char* train;
  const char* gpus;
  double tokens;
};

// Llama 3 405B: 15.6T tokens with the paper's batch ramp (llama3-15t); Llama 3 8B: 15T tokens.
constexpr Case kCases[] = {
    {"llama3-405b / H100, 15.6T tok", "llama3-405b", "dgx-h100-80g", "llama3-15t", "64..16384", 0},
    {"llama3-8b / H100, 15T tok", "llama3-8b", "dgx-h100-80g", "llama3-8k", "8..512", 15e12},
};

double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: sweep_bench [--repeat N] [--threads T]\n");
      return 2;
    }
  }
  try {
    std::printf("%-32s %-10s %6s %7s %8s %8s %6s\n", "case", "gpus", "counts", "threads",
                "wall_s", "cpu_s", "knee");
    for (const Case& c : kCases) {
      const auto m = parplan::load_model(c.model);
      const auto cl = parplan::load_cluster(c.cluster);
      auto t = parplan::load_training(c.train);
      if (c.tokens > 0) t.tokens = c.tokens;
      parplan::planner::SweepOptions o;
      o.gpus = parplan::planner::parse_gpu_counts(c.gpus);
      o.threads = threads;
      double wall = 1e30, cpu = 1e30;
      std::vector<parplan::planner::SweepRow> rows;
      for (int r = 0; r < repeat; ++r) {
        const auto w0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        rows = parplan::planner::sweep(m, cl, t, o);
        cpu = std::min(cpu, cpu_seconds() - c0);
        wall = std::min(wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
      }
      const int k = parplan::planner::knee(rows);
      std::printf("%-32s %-10s %6zu %7d %8.2f %8.2f %6lld\n", c.name, c.gpus, o.gpus.size(),
                  threads, wall, cpu, k >= 0 ? (long long)rows[size_t(k)].gpus : -1LL);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sweep_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
