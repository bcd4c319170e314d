#pragma once
// Context parallelism (Megatron-Core CP; ring attention, Liu et al. 2023): the sequence is split
// over the CP group, every layer but attention works on its tokens alone, and attention passes
// the keys and values around the ring (mappings.hpp cp::ring_shift_start: the next block in
// flight while the current one is computed), merging the partial softmax of each block by its
// log-sum-exp. Causal load balancing as Megatron-Core does: the sequence
// is cut into 2 * cp chunks and rank i holds chunks i and 2 * cp - 1 - i, so every rank has the
// same amount of unmasked work.
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::runtime {

// Global positions of the tokens CP rank `rank` of `cp` holds, for a local length t_local.
torch::Tensor cp_positions(int64_t t_local, int cp, int rank);
// This rank's chunks of a [B, T] (or [B, T, ...]) tensor along dimension 1.
torch::Tensor cp_local_tokens(const torch::Tensor& x, Group* cp);
// The CP rank holding global position `pos` of a length-T sequence, and its index there.
std::pair<int, int64_t> cp_owner(int64_t pos, int64_t T, int cp);
// Causal attention of this rank's queries q [B, h, t, d] over the keys/values of the whole
// sequence, k and v being this rank's [B, hkv, t, d] (hkv divides h: grouped-query attention,
// the KV heads travel the ring unrepeated); returns [B, h, t, d].
torch::Tensor ring_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             Group* cp);

// What the runtime cannot run with cp > 1 (messages naming the field), appended to `errors`.
void check_context_parallel(const Plan& plan, std::vector<std::string>& errors);

}  // namespace parplan::runtime
