// startup_bench: wall time of whole `parplan` processes (fork, exec, dynamic loading, the
// command, exit), as a script calling `parplan predict` in a loop pays it. Prints a table of
// min / median / mean over N runs for each command. Goal (issue 12): `parplan predict` of a
// preset under 30 ms.
//   startup_bench [PARPLAN_BIN] [RUNS]
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace {
double run_once(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid;
  if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  const auto t1 = std::chrono::steady_clock::now();
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return std::chrono::duration<double>(t1 - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const std::string bin = argc > 1 ? argv[1] : PARPLAN_DEFAULT_BIN;
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 50;
  const std::string layout =
      R"({"dp": 16, "tp": 8, "pp": 8, "zero": 1, "recompute": "selective", "sequence_parallel": true})";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"--help", {bin, "--help"}},
      {"predict (preset, table)",
       {bin, "predict", "--model", "gpt3-175b", "--cluster", "dgx-a100-80g", "--train",
        "gpt3-1536", "--layout", layout}},
      {"predict (preset, --json)",
       {bin, "predict", "--model", "llama3-70b", "--cluster", "dgx-h100-80g", "--train",
        "llama3-8k", "--json", "--layout",
        R"({"dp": 16, "tp": 8, "pp": 4, "zero": 1, "recompute": "selective", "sequence_parallel": true})"}},
      {"export --help", {bin, "export", "--help"}},
  };
  std::printf("%s, %d runs each (wall time of the whole process, measured)\n\n", bin.c_str(), runs);
  std::printf("%-28s %9s %9s %9s\n", "command", "min_ms", "median_ms", "mean_ms");
  for (const auto& [name, args] : cases) {
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
      const double s = run_once(args);
      if (s < 0) {
        std::printf("%-28s failed (exit code != 0)\n", name.c_str());
        t.clear();
        break;
      }
      t.push_back(s);
    }
    if (t.empty()) continue;
    std::sort(t.begin(), t.end());
    double mean = 0;
    for (double x : t) mean += x / double(t.size());
    std::printf("%-28s %9.2f %9.2f %9.2f\n", name.c_str(), 1e3 * t.front(), 1e3 * t[t.size() / 2],
                1e3 * mean);
  }
  return 0;
}
