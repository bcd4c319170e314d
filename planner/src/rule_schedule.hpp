#pragma once
// Internal: the pipeline-schedule rule (R12), kept apart from rules.cpp's R1-R10.
#include "parplan/planner/rules.hpp"

namespace parplan::planner::detail {

// R12 pipeline-schedule: for a plan with pp > 1, the best plan re-priced with every pipeline
// schedule (cost/pipeline.hpp): its bubble, peak memory and step, and whether the training's
// framework runs it (examples/frameworks/*.json "pipeline_schedules"). The rule: the schedule
// with the smallest step that fits among those the framework runs (zero-bubble and DualPipe
// shrink the bubble at the memory of PP or PP + 1 micro-batches in flight; Qi et al. 2024,
// DeepSeek-V3 report Table 2). `best` may be null (the rule then does not apply).
RuleReport pipeline_schedule_rule(const Model& m, const Cluster& c, const Training& t,
                                  const Candidate* best);

}  // namespace parplan::planner::detail
