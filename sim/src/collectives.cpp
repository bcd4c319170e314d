#include "parplan/sim/collectives.hpp"

#include <xbt/log.h>

#include <algorithm>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Engine.hpp>

#include "comm.hpp"
#include "names.hpp"
#include "parplan/model/error.hpp"

namespace sg4 = simgrid::s4u;

namespace parplan::sim {

std::vector<double> simulate_collectives(const Cluster& c, const std::vector<CollectiveJob>& jobs,
                                         NetworkModel network, bool symmetry) {
  int64_t gpus = 1;
  for (const auto& j : jobs) {
    if (j.gpus.size() < 2) throw Error("simulate_collectives: a job needs at least 2 GPUs");
    for (auto g : j.gpus) {
      if (g < 0) throw Error("simulate_collectives: negative GPU id");
      gpus = std::max(gpus, g + 1);
    }
  }
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine engine("parplan-collectives");
  configure_network(network);
  Platform p = build_platform(c, gpus);
  if (network == NetworkModel::Cm02) detail::install_protocol_latencies();
  detail::Comms comms(p, c);
  std::vector<double> done(jobs.size(), 0.0);
  std::vector<std::shared_ptr<detail::CommGroup>> groups;
  for (size_t k = 0; k < jobs.size(); ++k) {
    // A collective alone on the platform is symmetric where its shape is (comm.hpp).
    groups.push_back(comms.make_group(jobs[k].gpus, jobs.size() == 1 && symmetry));
    const auto* g = groups.back().get();
    const auto& job = jobs[k];
    for (int me = 0; me < g->size(); ++me)
      sg4::Actor::create(detail::cat({"j", std::to_string(k), ".", std::to_string(me)}),
                         p.hosts[static_cast<size_t>(g->gpus[static_cast<size_t>(me)])],
                         [&comms, &c, &done, g, &job, me, k] {
                           const detail::Choice algo =
                               job.protocol ? detail::Choice{job.algorithm, *job.protocol}
                                            : detail::resolve(job.algorithm, job.op, job.bytes, *g, c);
                           for (int r = 0; r < job.repeat; ++r)
                             detail::run_collective(comms, *g, me, job.op, job.bytes, algo);
                           done[k] = std::max(done[k], sg4::Engine::get_clock());
                         });
  }
  engine.run();
  return done;
}

}  // namespace parplan::sim
