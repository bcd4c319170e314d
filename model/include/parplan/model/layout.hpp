#pragma once
// The parallel layout: the unit the planner searches (DESIGN.md "Layout").
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

enum class Recompute : uint8_t { None, Selective, Full };
enum class Schedule : uint8_t { GPipe, OneFOneB, Interleaved };
enum class Offload : uint8_t { None, Optimizer, OptimizerAndParams };

struct Layout {
  int32_t dp = 1, tp = 1, pp = 1, cp = 1;
  int32_t micro_batch = 1;
  int32_t zero = 0;  // ZeRO stage 0..3 over the DP group
  Recompute recompute = Recompute::None;
  bool sequence_parallel = false;
  Schedule schedule = Schedule::OneFOneB;
  int32_t virtual_stages = 1;  // interleaved 1F1B model chunks per stage
  Offload offload = Offload::None;

  int64_t gpus() const { return int64_t(dp) * tp * pp * cp; }
  bool operator==(const Layout&) const = default;
};

struct Model;
struct Cluster;
struct Training;

// Field checks alone (positive degrees, known enums).
void validate(const Layout& l, Diagnostics& d, const std::string& prefix = "layout");
// Checks against the inputs: divisibility (heads by tp, layers by pp*v, batch by dp*mb, sequence
// by cp and tp under SP), GPU count within the cluster.
void validate(const Layout& l, const Model& m, const Cluster& c, const Training& t, Diagnostics& d,
              const std::string& prefix = "layout");

Layout layout_from_json(const nlohmann::json& j, Diagnostics& d,
                        const std::string& prefix = "layout");
nlohmann::json to_json(const Layout& l);
std::string describe(const Layout& l);  // "dp=16 tp=8 pp=8 cp=1 mb=1 zero=1 rc=selective sp ..."

const char* to_string(Recompute r);
const char* to_string(Schedule s);
const char* to_string(Offload o);
bool parse_recompute(const std::string& s, Recompute& out);
bool parse_schedule(const std::string& s, Schedule& out);
bool parse_offload(const std::string& s, Offload& out);

}  // namespace parplan
