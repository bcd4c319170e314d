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
Plan load_plan(const nlohmann::json& j, const nlohmann::json& layout) {
  Plan p;
  p.model = load_model(spec(j["model"]));
  p.cluster = load_cluster(spec(j["cluster"]));
  p.training = load_training(spec(j["train"]));
  p.layout = load_layout(layout.dump());
  return p;
}
// The plans as priced.
std::vector<NamedPlan> plan_set() {
  std::vector<NamedPlan> out;
  const auto set = upstream_json("export-plans.json");
  for (const auto& j : set["plans"])
    out.push_back({j["name"].get<std::string>(), load_plan(j, j["layout"])});
  return out;
}

// What the set holds for one framework (export-plans.json, "frameworks"): the plan as priced, the
// plan re-planned with the layout fields a refusal's fix names, or a refusal expected.
struct Entry {
  std::string name, framework;
  Plan plan;             // as exported: the fix applied
  Plan priced;           // as priced
  nlohmann::json fix;    // {} when the plan is exported as priced
  std::string refuse;    // words the refusal's reason must contain; "" when it must be accepted
};
constexpr const char* kFrameworks[] = {"megatron", "megatron-deepspeed", "deepspeed", "torchtitan"};
std::vector<Entry> framework_set() {
  std::vector<Entry> out;
  const auto set = upstream_json("export-plans.json");
  for (const auto& j : set["plans"])
    for (const char* fw : kFrameworks) {
      const auto v = j.value("frameworks", nlohmann::json::object()).value(fw, nlohmann::json::object());
      Entry e{j["name"].get<std::string>(), fw, {}, load_plan(j, j["layout"]),
              v.value("fix", nlohmann::json::object()), v.value("refuse", "")};
      auto layout = j["layout"];
      layout.update(e.fix);
      e.plan = load_plan(j, layout);
      out.push_back(std::move(e));
    }
  return out;
}

ExportFormat format_of(const std::string& fw) {
  if (fw == "megatron") return ExportFormat::Megatron;
  if (fw == "megatron-deepspeed") return ExportFormat::MegatronDeepSpeed;
  if (fw == "deepspeed") return ExportFormat::DeepSpeed;
  return ExportFormat::Torchtitan;
}

std::string refusal(const Plan& p, ExportFormat f) {
  try {
    export_files(p, f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
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

// One term: FLAG, FLAG=V, FLAG!=V, FLAG~TEXT (a value containing TEXT); alternatives separated
// by '|'.
bool holds(const Flags& f, const std::string& term) {
  if (const auto bar = term.find('|'); bar != std::string::npos)
    return holds(f, term.substr(0, bar)) || holds(f, term.substr(bar + 1));
  if (const auto tilde = term.find('~'); tilde != std::string::npos) {
    const auto [lo, hi] = f.equal_range(term.substr(0, tilde));
    for (auto it = lo; it != hi; ++it)
      if (test::has(it->second, term.substr(tilde + 1))) return true;
    return false;
  }
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
  const auto set = framework_set();
  ASSERT_GE(set.size(), 12u * 4);
  std::map<std::string, int> applied, exported;
  for (const auto& e : set) {
    if (!e.refuse.empty()) continue;  // RefusalsOfThePlanSet
    const std::string where = e.name + " -> " + e.framework + (e.fix.empty() ? "" : " " + e.fix.dump());
    const ExportFormat fmt = format_of(e.framework);
    std::vector<ExportFile> files;
    try {
      files = export_files(e.plan, fmt);
      if (fmt == ExportFormat::Torchtitan) export_files(e.plan, ExportFormat::TorchtitanToml);
    } catch (const Error& err) {  // the set holds a layout the framework runs: no refusal
      ADD_FAILURE() << where << ": " << err.what();
      continue;
    }
    ++exported[e.framework];
    Flags f;
    if (fmt == ExportFormat::DeepSpeed) {
      add_config(f, nlohmann::json::parse(files[0].text), "");
      // The sidecar: the layout ("parplan:layout.pp", ...) and what the script must do ("must").
      const auto side = nlohmann::json::parse(files.at(1).text);
      add_config(f, side["layout"], "parplan:layout.");
      for (const auto& m : side["script_must"]) f.emplace("must", m.get<std::string>());
    } else {
      f = flag_values(files[0].text, fmt == ExportFormat::Torchtitan ? "torchtitan.train" : "pretrain_gpt.py");
      ASSERT_GT(f.size(), 10u) << where;
      for (const auto& file : files)
        if (file.name == "ds_config.json") add_config(f, nlohmann::json::parse(file.text), "ds:");
    }
    check_rules(rules[e.framework], f, where, applied);
  }
  // Every framework exports most of the set, and every rule applied to at least one export (a
  // rule that never applies checks nothing).
  EXPECT_GE(exported["megatron"], 13);
  EXPECT_GE(exported["torchtitan"], 10);
  EXPECT_GE(exported["deepspeed"], 10);
  EXPECT_GE(exported["megatron-deepspeed"], 9);
  for (const char* fw : kFrameworks)
    for (const auto& r : rules[fw])
      EXPECT_GT(applied[r["rule"].get<std::string>()], 0) << fw << ": " << r["rule"] << " never applied";
}

// Where a framework cannot run what was priced, the export is refused with the reason and a fix;
// where the set re-plans a layout, the plan as priced is refused and its fix names the change
// (a refusal expected is checked on the re-planned layout where the set gives one).
TEST(ExportConstraints, RefusalsOfThePlanSet) {
  int refused = 0, fixed = 0;
  for (const auto& e : framework_set()) {
    const std::string where = e.name + " -> " + e.framework;
    if (!e.fix.empty()) {
      const std::string msg = refusal(e.priced, format_of(e.framework));
      EXPECT_TRUE(test::has(msg, "cannot export to")) << where << ": the fix is not needed";
      bool named = false;
      for (const auto& [k, v] : e.fix.items())
        named = named || test::has(msg, k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
      EXPECT_TRUE(named) << where << ": the refusal does not name " << e.fix.dump() << ": " << msg;
      ++fixed;
    }
    if (!e.refuse.empty()) {  // after the fix, if any: what the framework cannot run at all
      const std::string msg = refusal(e.plan, format_of(e.framework));
      EXPECT_TRUE(test::has(msg, "cannot export to")) << where << ": not refused";
      EXPECT_TRUE(test::has(msg, e.refuse)) << where << ": " << msg;
      EXPECT_TRUE(test::has(msg, "To fix: ")) << where << ": " << msg;
      ++refused;
    }
  }
  EXPECT_GE(refused, 8);
  EXPECT_GE(fixed, 10);
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
