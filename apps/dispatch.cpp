#include "dispatch.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "parplan/model/error.hpp"

namespace parplan::cli {

namespace {
struct Delegated {
  const char* command;
  const char* binary;
  const char* help;
};
constexpr Delegated kDelegated[] = {
    {"run", "parplan-run", "train a GPT under a plan's layout and measure it (parplan-run, LibTorch)"},
    {"calibrate", "parplan-run", "measure this machine and write a cluster file (parplan-run, LibTorch)"},
    {"prepare", "parplan-run", "tokenize a text into train.bin / val.bin (parplan-run)"},
    {"compare", "parplan-run", "compare measured runs with the prediction (parplan-run)"},
    {"fit", "parplan-run", "fit the cluster file's efficiencies to measured runs (parplan-run)"},
    {"worker", "parplan-run", ""},
    {"simulate", "parplan-sim", "simulate one training step with SimGrid (parplan-sim)"},
};
}  // namespace

std::string delegate_for(int argc, char** argv) {
  // The first argument that is not an option names the subcommand (parplan takes no options
  // before it except --help/--version, which parplan answers itself).
  if (argc < 2 || argv[1][0] == '-') return "";
  const std::string cmd = argv[1];
  for (const auto& d : kDelegated)
    if (cmd == d.command) {
      // `calibrate --nccl-tests FILE` reads nccl-tests output: no LibTorch, served here.
      if (cmd == "calibrate")
        for (int i = 2; i < argc; ++i)
          if (std::strncmp(argv[i], "--nccl-tests", 12) == 0) return "";
      // `fit --runs DIR` fits on imported runs with the cost model alone: served here, and so is
      // `fit --help` (fit's own usage, which names the parplan-run form) unless --measured asks
      // for parplan-run's.
      if (cmd == "fit") {
        bool help = false, measured = false;
        for (int i = 2; i < argc; ++i) {
          if (std::strncmp(argv[i], "--runs", 6) == 0) return "";
          help = help || std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0;
          measured = measured || std::strncmp(argv[i], "--measured", 10) == 0;
        }
        if (help && !measured) return "";
      }
      return d.binary;
    }
  return "";
}

std::string sibling_path(const std::string& name) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, size_t(n)) : std::string();
  const auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/" + name;
}

int exec_sibling(const std::string& name, int argc, char** argv) {
  const std::string path = sibling_path(name);
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  const int err = errno;
  // scripts/main.sh builds only what planning and simulation need; the runtime (LibTorch) and
  // the simulator are built by scripts/test.sh or on demand.
  const bool runtime = name == "parplan-run";
  std::cerr << "error: `parplan " << std::string(argv[1]).substr(0, 40) << "` is served by "
            << name << ", which could not be started from " << path << " (" << std::strerror(err)
            << "); build it: "
            << (runtime ? "scripts/deps.sh && scripts/configure.sh -DPARPLAN_WITH_TORCH=ON && "
                          "cmake --build build --target parplan-run"
                        : "scripts/configure.sh -DPARPLAN_WITH_SIMGRID=ON && cmake --build build "
                          "--target parplan-sim")
            << " (scripts/test.sh builds everything)\n";
  return 3;
}

void add_delegated_commands(CLI::App& app) {
  for (const auto& d : kDelegated) {
    bool registered = false;
    for (const auto* sub : app.get_subcommands({})) registered = registered || sub->get_name() == d.command;
    if (registered) continue;
    auto* c = app.add_subcommand(d.command, d.help);
    if (*d.help == '\0') c->group("");
    c->allow_extras();
    c->prefix_command();
    const std::string cmd = d.command, bin = d.binary;
    c->callback([cmd, bin] {
      throw Error("`parplan " + cmd + "` is served by " + bin + " and must be the first argument "
                  "(parplan " + cmd + " ...); this build has no other form of it");
    });
  }
}

}  // namespace parplan::cli
