#pragma once
// Hybrid sharding (HSDP; PyTorch FSDP HYBRID_SHARD, Zhao et al. 2023 sec. 3.2; DeepSpeed
// ZeRO++ hpZ): ZeRO-3 shards model states inside groups of `shard_group` consecutive DP ranks and
// replicates them across the dp / shard_group groups. Gradients are reduce-scattered inside a
// group and all-reduced across groups; parameters are all-gathered inside a group.
#include "parplan/cost/collectives.hpp"

namespace parplan::cost {

struct ShardGroups {
  Group shard;    // the ranks that share one copy of the model states (the DP group without HSDP)
  Group replica;  // the ranks holding the same shard in the other groups (size 1 without HSDP)
};
ShardGroups shard_groups(const Layout& l, const Cluster& c);

}  // namespace parplan::cost
