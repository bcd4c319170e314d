// HSDP groups on the cluster, in Megatron rank order (tp, cp, then dp: a shard group is
// shard_group consecutive DP ranks, so a node-sized one stays inside a node).
#include "parplan/cost/sharding.hpp"

#include <algorithm>

namespace parplan::cost {

ShardGroups shard_groups(const Layout& l, const Cluster& c) {
  const int64_t gpn = c.domain_gpus();  // NVLink domain
  const int64_t stride = int64_t(l.tp) * l.cp;
  const int64_t g = l.shard_size(), replicas = l.dp / std::max<int64_t>(1, g);
  auto on_node = [gpn](int64_t step, int64_t size) {
    return step >= gpn ? int64_t(1) : std::clamp<int64_t>(gpn / step, 1, size);
  };
  ShardGroups s;
  s.shard = {g, on_node(stride, g), gpn};
  s.replica = {replicas, on_node(stride * g, replicas), gpn};
  return s;
}

}  // namespace parplan::cost
