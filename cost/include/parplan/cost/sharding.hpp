#pragma once
// Hybrid sharding (HSDP; PyTorch FSDP HYBRID_SHARD, Zhao et al. 2023 sec. 3.2; DeepSpeed
// ZeRO++ hpZ): ZeRO-3 shards model states inside groups of `shard_group` consecutive DP ranks and
// replicates them across the dp / shard_group groups. Gradients are reduce-scattered inside a
// group and all-reduced across groups; parameters are all-gathered inside a group.
// With context parallelism a framework may reduce and shard over the DP x CP group instead
// (framework.hpp grad_reduce_over_cp: Megatron-Core's dp_cp groups, torchtitan's dp_shard_cp
// mesh): a shard group is then shard_group x cp ranks, tp apart.
#include "parplan/cost/collectives.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

struct ShardGroups {
  Group shard;    // the ranks that share one copy of the model states (the DP group without HSDP)
  Group replica;  // the ranks holding the same shard in the other groups (size 1 without HSDP)
};
// Whether the gradients are summed, and ZeRO's states sharded, over the DP x CP group (the
// framework's grad_reduce_over_cp and cp > 1); false: over the DP group.
bool states_over_cp(const Training& t, const Layout& l);
bool states_over_cp(const Training& t, int32_t cp);  // the same for a CP degree alone
// The ranks of one shard group: shard_size(), times cp where states_over_cp.
int64_t shard_ranks(const Training& t, const Layout& l);
ShardGroups shard_groups(const Layout& l, const Cluster& c, const Training& t);

}  // namespace parplan::cost
