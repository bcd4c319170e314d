// The rules the frameworks' own parsers enforce (tests/data/upstream/export-constraints.json, found
// by scripts/check_exports.py at the recorded commits) checked against every export of the fixed
// plan set (export-plans.json), and `bash -n` on every script any export format writes for them.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "export_checks.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/export.hpp"
#include "upstream_lists.hpp"

namespace parplan::planner {
namespace {

nlohmann::json upstream_json(const std::string& name) {
  return nlohmann::json::parse(read_file(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/upstream/" + name));
}

std::string spec(const nlohmann::json& v) {
  if (!v.is_string()) return v.dump();
  const std::string s = v.get<std::string>();
  return s.find('/') != std::string::npos ? std::string(PARPLAN_SOURCE_DIR) + "/" + s : s;
}

struct NamedPlan {
  std::string name;
  Plan plan;
};
std::vector<NamedPlan> plan_set() {
  std::vector<NamedPlan> out;
  const auto set = upstream_json("export-plans.json");
  for (const auto& j : set["plans"]) {
    Plan p;
    p.model = load_model(spec(j["model"]));
    p.cluster = load_cluster(spec(j["cluster"]));
    p.training = load_training(spec(j["train"]));
    p.layout = load_layout(j["layout"].dump());
    out.push_back({j["name"].get<std::string>(), p});
  }
  return out;
}

// A command's flags after `program`, each with its first value ("" for a switch).
using Flags = std::multimap<std::string, std::string>;
Flags flag_values(const std::string& text, const std::string& program) {
  Flags out;
  bool started = false;
  std::string pending;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      if (!started) {
        started = w.find(program) != std::string::npos;
        continue;
      }
      if (w == "\\") continue;
      if (w.rfind("--", 0) == 0) {
        if (!pending.empty()) out.emplace(pending, "");
        pending = w;
      } else if (!pending.empty()) {
        out.emplace(pending, w);
        pending.clear();
      }
    }
  }
  if (!pending.empty()) out.emplace(pending, "");
  return out;
}

// The flags of a DeepSpeed config as dotted key paths with their values ("ds:" prefix when it
// is the config of a Megatron-DeepSpeed launch).
void add_config(Flags& f, const nlohmann::json& j, const std::string& prefix) {
  std::vector<std::string> paths;
  test::key_paths(j, "", paths);
  for (const auto& k : paths) {
    const auto v = j.at(nlohmann::json::json_pointer("/" + [&] {
      std::string s = k;
      for (auto& c : s) if (c == '.') c = '/';
      return s;
    }()));
    f.emplace(prefix + k, v.is_string() ? v.get<std::string>() : v.dump());
  }
}

// One term: FLAG, FLAG=V, FLAG!=V; alternatives separated by '|'.
bool holds(const Flags& f, const std::string& term) {
  if (const auto bar = term.find('|'); bar != std::string::npos)
    return holds(f, term.substr(0, bar)) || holds(f, term.substr(bar + 1));
  std::string flag = term, value;
  bool negate = false;
  if (const auto ne = term.find("!="); ne != std::string::npos) {
    flag = term.substr(0, ne), value = term.substr(ne + 2), negate = true;
  } else if (const auto eq = term.find('='); eq != std::string::npos) {
    flag = term.substr(0, eq), value = term.substr(eq + 1);
  }
  const auto [lo, hi] = f.equal_range(flag);
  if (lo == hi) return false;
  if (term.find('=') == std::string::npos) return true;
  for (auto it = lo; it != hi; ++it) {
    std::string v = it->second;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if ((v == value) != negate) return true;
  }
  return false;
}

// Checks one framework's rules against one export; counts how often each rule applied.
void check_rules(const nlohmann::json& rules, const Flags& f, const std::string& where,
                 std::map<std::string, int>& applied) {
  for (const auto& r : rules) {
    bool when = true;
    for (const auto& t : r.value("when", nlohmann::json::array())) when = when && holds(f, t);
    if (!when) continue;
    ++applied[r["rule"].get<std::string>()];
    for (const auto& t : r.value("require", nlohmann::json::array()))
      EXPECT_TRUE(holds(f, t)) << where << ": " << r["rule"] << " needs " << t;
    for (const auto& t : r.value("forbid", nlohmann::json::array()))
      EXPECT_FALSE(holds(f, t)) << where << ": " << r["rule"] << " forbids " << t;
  }
}

bool is_script(const std::string& name) {
  return name.size() > 3 && (name.substr(name.size() - 3) == ".sh" || name.substr(name.size() - 4) == ".pbs");
}

TEST(ExportConstraints, EveryExportOfThePlanSetKeepsTheFrameworksRules) {
  const auto rules = upstream_json("export-constraints.json");
  const auto plans = plan_set();
  ASSERT_GE(plans.size(), 12u);
  std::map<std::string, int> applied, exported;
  for (const auto& [name, p] : plans) {
    struct Target {
      const char* key;
      ExportFormat format;
    };
    for (const Target& t : {Target{"megatron", ExportFormat::Megatron},
                            Target{"megatron-deepspeed", ExportFormat::MegatronDeepSpeed},
                            Target{"deepspeed", ExportFormat::DeepSpeed},
                            Target{"torchtitan", ExportFormat::Torchtitan}}) {
      std::vector<ExportFile> files;
      try {
        files = export_files(p, t.format);
      } catch (const Error& e) {
        EXPECT_TRUE(test::has(e.what(), "cannot export to")) << e.what();
        continue;
      }
      ++exported[t.key];
      const std::string where = name + " -> " + t.key;
      Flags f;
      if (t.format == ExportFormat::DeepSpeed) {
        add_config(f, nlohmann::json::parse(files[0].text), "");
      } else {
        f = flag_values(files[0].text, t.format == ExportFormat::Torchtitan ? "torchtitan.train" : "pretrain_gpt.py");
        ASSERT_GT(f.size(), 10u) << where;
        for (const auto& file : files)
          if (file.name == "ds_config.json") add_config(f, nlohmann::json::parse(file.text), "ds:");
      }
      check_rules(rules[t.key], f, where, applied);
    }
  }
  // The set reaches every framework, and every rule applied to at least one export (a rule that
  // never applies checks nothing).
  EXPECT_GE(exported["megatron"], 12);
  EXPECT_GE(exported["torchtitan"], 5);
  EXPECT_GE(exported["deepspeed"], 4);
  EXPECT_GE(exported["megatron-deepspeed"], 3);
  for (const char* fw : {"megatron", "megatron-deepspeed", "torchtitan", "deepspeed"})
    for (const auto& r : rules[fw])
      EXPECT_GT(applied[r["rule"].get<std::string>()], 0) << fw << ": " << r["rule"] << " never applied";
}

TEST(ExportConstraints, EveryScriptOfEveryFormatParsesAsBash) {
  int scripts = 0;
  for (const auto& [name, p] : plan_set()) {
    std::vector<std::vector<ExportFile>> all;
    for (ExportFormat f : {ExportFormat::Megatron, ExportFormat::MegatronDeepSpeed, ExportFormat::DeepSpeed,
                           ExportFormat::Torchtitan, ExportFormat::TorchtitanToml})
      try {
        all.push_back(export_files(p, f));
      } catch (const Error&) {
      }
    for (ExportFormat f : {ExportFormat::Torchrun, ExportFormat::Mpiexec, ExportFormat::Pbs, ExportFormat::Srun})
      for (Framework fw : {Framework::Megatron, Framework::MegatronDeepSpeed, Framework::DeepSpeed,
                           Framework::Torchtitan, Framework::Parplan})
        try {
          all.push_back(export_files(p, f, fw));
        } catch (const Error&) {
        }
    for (const auto& files : all)
      for (const auto& file : files)
        if (is_script(file.name)) {
          ++scripts;
          EXPECT_EQ(test::bash_syntax_error(file.text), "") << name << " " << file.name << "\n" << file.text;
        }
  }
  EXPECT_GE(scripts, 200);
}

// The rule that motivated the check: a placeholder message with an apostrophe broke every
// torchtitan script under `bash -n`; placeholders now drop quotes from their message.
TEST(ExportConstraints, PlaceholderMessagesCannotBreakTheQuoting) {
  Plan p = plan_set()[1].plan;  // llama3-8b-fsdp
  ASSERT_EQ(p.model.name, "llama3-8b");
  const std::string t = export_plan(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(test::has(t, "${HF_ASSETS:?set HF_ASSETS to ")) << t;
  EXPECT_EQ(test::bash_syntax_error(t), "");
  EXPECT_NE(test::bash_syntax_error("echo \"${X:?the model's}\"\n"), "");  // what it was
}

}  // namespace
}  // namespace parplan::planner
