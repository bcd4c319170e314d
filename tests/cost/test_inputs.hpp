#pragma once
// Inputs shared by the cost tests: presets as shipped.
#include "parplan/model/io.hpp"

namespace parplan::test {
inline Model gpt3() { return load_model("gpt3-175b"); }
inline Cluster a100() { return load_cluster("dgx-a100-80g"); }
inline Training gpt3_train() { return load_training("gpt3-1536"); }
}  // namespace parplan::test
