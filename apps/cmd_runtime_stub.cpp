// `parplan run|calibrate|prepare` when parplan is built without LibTorch.
#include "commands.hpp"
#include "parplan/model/error.hpp"

namespace parplan::cli {

void add_runtime_commands(CLI::App& app) {
  for (const char* name : {"run", "calibrate", "prepare"}) {
    auto* cmd = app.add_subcommand(name, std::string(name) + " (needs the LibTorch runtime; not built)");
    cmd->allow_extras();
    cmd->callback([] {
      throw Error("parplan was built without LibTorch; build the runtime: scripts/deps.sh && "
                  "scripts/configure.sh -DPARPLAN_WITH_TORCH=ON && cmake --build build --target "
                  "parplan-run (scripts/test.sh builds everything)");
    });
  }
}

}  // namespace parplan::cli
