#pragma once
// Checkpoints of a run, verified on resume. Layout of <ckpt-dir>:
//   latest                     the step of the newest complete checkpoint ("4\n")
//   step_00000004/rank_R.pt    rank R's optimizer state (LibTorch archive), preceded by its
//                              identity tensor [rank, step, world_size]
//   step_00000004/rank_R.json  rank R's file size and FNV-1a 64 checksum
//   step_00000004/manifest.json  step, world size, the run's settings (model, layout, training,
//                              learning rate, seed, data) and every rank file's size/checksum
// A checkpoint is complete once manifest.json and then `latest` are written (rank 0, after a
// barrier). Resuming compares the settings and says what differs, and checks each file's size,
// checksum and identity: overwritten bytes, swapped rank files or another run's settings are
// errors, never a silent load.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "parplan/model/plan.hpp"
#include "parplan/runtime/run.hpp"

namespace parplan::runtime {

// What must match between the run that wrote a checkpoint and the one resuming from it.
nlohmann::json run_settings(const RunOptions& o, const Plan& plan, int world_size);

// The step `latest` names in ckpt_dir, or -1 when there is no checkpoint.
int64_t latest_checkpoint_step(const std::string& ckpt_dir);

// The launcher's checks before it spawns ranks (and each rank's again): without --resume an
// existing checkpoint is an Error (it would be overwritten); with --resume, --ckpt-dir is
// required, the checkpoint must be before --steps, its settings must match (the Error lists every
// difference) and every rank file must have its recorded size and checksum (all of them when
// `verify_files`; a rank checks its own in load_checkpoint). Returns the step to start from (0: no
// checkpoint yet).
int64_t check_checkpoint_dir(const RunOptions& o, const nlohmann::json& settings, bool verify_files);

struct RankIdentity {
  int rank = 0, world_size = 1;
};

// Writes this rank's state for `step` (all ranks call it; `barrier` synchronises them). A failed
// write throws parplan::EnvironmentError naming the file and the cause; no temporary is left.
void save_checkpoint(const std::string& ckpt_dir, int64_t step, const RankIdentity& id,
                     const std::vector<torch::Tensor>& state, const nlohmann::json& settings,
                     const std::function<void()>& barrier);

// This rank's state at `step`, verified (settings, size, checksum, identity).
std::vector<torch::Tensor> load_checkpoint(const std::string& ckpt_dir, int64_t step,
                                           const RankIdentity& id, const nlohmann::json& settings);

// FNV-1a 64 of `bytes`, as 16 hex digits (detects corruption; not a cryptographic hash).
std::string fnv1a64_hex(const std::string& bytes);

}  // namespace parplan::runtime
