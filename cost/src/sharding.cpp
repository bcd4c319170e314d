// HSDP groups on the cluster, in Megatron rank order (tp, cp, then dp: a shard group is
// shard_group consecutive DP ranks, so a node-sized one stays inside a node; over DP x CP, the
// shard_group x cp consecutive ranks of stride tp).
#include "parplan/cost/sharding.hpp"

#include <algorithm>

#include "parplan/cost/framework.hpp"

namespace parplan::cost {

bool states_over_cp(const Training& t, int32_t cp) {
  return cp > 1 && framework_behaviour(t).grad_reduce_over_cp;
}
bool states_over_cp(const Training& t, const Layout& l) { return states_over_cp(t, l.cp); }

int64_t shard_ranks(const Training& t, const Layout& l) {
  return int64_t(l.shard_size()) * (states_over_cp(t, l) ? l.cp : 1);
}

ShardGroups shard_groups(const Layout& l, const Cluster& c, const Training& t) {
  const int64_t gpn = c.domain_gpus();  // NVLink domain
  const bool over_cp = states_over_cp(t, l);
  const int64_t stride = over_cp ? int64_t(l.tp) : int64_t(l.tp) * l.cp;
  const int64_t g = shard_ranks(t, l), replicas = l.dp / std::max<int64_t>(1, l.shard_size());
  auto on_node = [gpn](int64_t step, int64_t size) {
    return step >= gpn ? int64_t(1) : std::clamp<int64_t>(gpn / step, 1, size);
  };
  ShardGroups s;
  s.shard = {g, on_node(stride, g), gpn};
  s.replica = {replicas, on_node(int64_t(l.tp) * l.cp * l.shard_size(), replicas), gpn};
  return s;
}

}  // namespace parplan::cost
