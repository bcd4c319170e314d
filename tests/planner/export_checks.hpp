#pragma once
// Small checks the export tests share.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "parplan/model/error.hpp"
#include "parplan/planner/export.hpp"
#include "upstream_lists.hpp"

namespace parplan::planner::test {

inline bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The message an export refuses the plan with; empty when it exports.
inline std::string refusal(const Plan& p, ExportFormat f) {
  try {
    export_plan(p, f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// `bash -n`: the generated script parses as bash (quotes balanced, no stray apostrophe in a
// placeholder message).
inline std::string bash_syntax_error(const std::string& text) {
  char path[] = "/tmp/parplan_export_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return "mkstemp failed";
  close(fd);
  { std::ofstream(path) << text; }
  const std::string cmd = std::string("bash -n ") + path + " 2>&1";
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    const int rc = pclose(f);
    if (rc != 0 && out.empty()) out = "bash -n failed";
  } else {
    out = "popen failed";
  }
  std::remove(path);
  return out;
}
inline void expect_bash_syntax(const std::string& text) {
  EXPECT_EQ(bash_syntax_error(text), "") << text;
}

// Every pretrain_gpt.py flag of a generated script is one Megatron-LM takes (its list at d98e8a6).
inline void expect_megatron_flags(const std::string& text) {
  static const auto list = upstream_list("megatron-lm-flags.txt");
  ASSERT_NE(list.header.find("d98e8a64ddf34856e74b24714e3bedb2f5a39553"), std::string::npos);
  ASSERT_GT(list.items.size(), 500u);
  expect_bash_syntax(text);
  const auto flags = flags_of(text, "pretrain_gpt.py");
  ASSERT_GT(flags.size(), 20u) << text;
  for (const auto& f : flags) EXPECT_TRUE(list.items.count(f)) << f << " is not a Megatron-LM flag";
}

// The same for Megatron-DeepSpeed (argonne-lcf fork at ffa3456).
inline void expect_megatron_ds_flags(const std::string& text) {
  static const auto list = upstream_list("megatron-deepspeed-flags.txt");
  ASSERT_NE(list.header.find("ffa3456d68b630192fcaefcc3288bd18525b8d95"), std::string::npos);
  expect_bash_syntax(text);
  for (const auto& f : flags_of(text, "pretrain_gpt.py"))
    EXPECT_TRUE(list.items.count(f)) << f << " is not a Megatron-DeepSpeed flag";
}

// Every key of a DeepSpeed config is one DeepSpeed reads (its list at edaa722).
inline void expect_deepspeed_keys(const nlohmann::json& j) {
  static const auto list = upstream_list("deepspeed-config-keys.txt");
  ASSERT_NE(list.header.find("edaa7221267243c7be7fb49c5d5f5c4fb97b4641"), std::string::npos);
  std::vector<std::string> paths;
  key_paths(j, "", paths);
  for (const auto& k : paths) {
    // optimizer.params holds the optimizer constructor's own keyword arguments (free-form).
    if (k.rfind("optimizer.params.", 0) == 0) continue;
    // A dotted path the list names, or a sub-key DeepSpeed reads by that name in that section.
    const auto leaf = k.substr(k.rfind('.') + 1);
    EXPECT_TRUE(list.items.count(k) || (k.find('.') != std::string::npos && list.items.count(leaf)))
        << k << " is not a DeepSpeed config key";
  }
}

// Every key of a generated torchtitan TOML ("section.key") is one its config manager takes (the
// list at 238fa99, before the config refactor); returns how many keys the file sets.
inline int expect_torchtitan_toml_keys(const std::string& toml) {
  static const auto list = upstream_list("torchtitan-toml-keys.txt");
  EXPECT_NE(list.header.find("238fa9953e4aec2a62582121564273d7cbb1e9f1"), std::string::npos);
  std::string section, line;
  std::istringstream in(toml);
  int keys = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const std::string key = section + "." + line.substr(0, line.find(' '));
    EXPECT_TRUE(list.items.count(key)) << key << " is not a torchtitan TOML key";
    ++keys;
  }
  return keys;
}

}  // namespace parplan::planner::test
