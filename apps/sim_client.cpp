// `parplan plan --simulate K` without linking SimGrid: the plans go to `parplan-sim step-times`
// through a temporary file (removed on every path out); the step times come back as JSON.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "commands.hpp"
#include "dispatch.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
struct TempFile {
  std::string path;
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/parplan-plans-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const int fd = mkstemp(buf.data());
    if (fd < 0) throw Error("cannot create a temporary file in " + tmpl + " for --simulate");
    close(fd);
    path = buf.data();
  }
  ~TempFile() { std::remove(path.c_str()); }
};
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

std::vector<double> simulate_step_times(const std::vector<Plan>& plans, double max_sim_s) {
  if (plans.empty()) return {};
  TempFile tmp;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& p : plans) arr.push_back(to_json(p));
  write_file_atomic(tmp.path, arr.dump());
  const std::string bin = sibling_path("parplan-sim");
  if (access(bin.c_str(), X_OK) != 0)
    throw Error("--simulate needs parplan-sim next to parplan (" + bin +
                "); build it (cmake --build build --target parplan-sim)");
  const std::string cmd = quote(bin) + " step-times --plans " + quote(tmp.path) +
                          " --max-sim-s " + std::to_string(max_sim_s);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot start " + bin);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("parplan-sim step-times failed (exit " +
                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                "); its message is above");
  const auto j = parse_json_text(out, "parplan-sim step-times output");
  std::vector<double> times;
  std::string errors;
  size_t failed = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    if (j[i].contains("step_time_s")) {
      times.push_back(j[i]["step_time_s"].get<double>());
    } else {
      ++failed;
      times.push_back(std::numeric_limits<double>::infinity());
      errors += "\n  plan " + std::to_string(i + 1) + " (" + describe(plans[i].layout) +
                "): " + j[i].value("error", std::string("no result"));
    }
  }
  if (failed == plans.size()) throw Error("every simulation failed:" + errors);
  if (failed)
    std::cerr << "warning: " << failed << " simulation(s) failed, ranked last:" << errors << "\n";
  return times;
}

}  // namespace parplan::cli
