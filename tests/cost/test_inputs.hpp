#pragma once
// Inputs shared by the cost tests: presets as shipped.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "parplan/model/io.hpp"

namespace parplan::test {
inline Model gpt3() { return load_model("gpt3-175b"); }
inline Cluster a100() { return load_cluster("dgx-a100-80g"); }
inline Training gpt3_train() { return load_training("gpt3-1536"); }

// A framework file (its path, for Training::framework): the shipped examples/frameworks/<name>.json
// without grad_reduce.over_context_parallel, i.e. the same framework reducing and sharding over
// the DP group only.
inline std::string framework_without_cp_key(const std::string& name) {
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/examples/frameworks/" + name + ".json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["grad_reduce"].erase("over_context_parallel");
  j["name"] = name + "-dp-only";
  const auto path = std::filesystem::temp_directory_path() /
                    (name + "-dp-only." + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << j.dump();
  return path.string();
}
}  // namespace parplan::test
