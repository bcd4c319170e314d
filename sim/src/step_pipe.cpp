// Pipeline transfers of the step simulation: activations forward, gradients backward, as
// mailbox messages between the stages' actors (see step_state.hpp).
#include <algorithm>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Mailbox.hpp>
#include <string>

#include "names.hpp"
#include "step_state.hpp"

namespace parplan::sim::detail {

int64_t StepSim::peer(const Rank& r, int stage) const {
  const Layout& l = plan_.layout;
  return ((int64_t(stage) * l.dp + r.dp) * l.cp + r.cp) * l.tp + r.tp;
}

void StepSim::send(Rank& r, int64_t dst, char dir, int chunk) {
  flush(r);
  comms_.flow_started(r.rank, dst);
  auto* mb = sg4::Mailbox::by_name(
      detail::cat({std::string(1, dir), std::to_string(dst), ".", std::to_string(chunk)}));
  mb->put_init(new double(now()), detail::plain_size(w_.pp_bytes))->detach();
  comms_.messages++;
}

void StepSim::recv(Rank& r, int64_t src, char dir, int chunk) {
  flush(r);
  auto* mb = sg4::Mailbox::by_name(
      detail::cat({std::string(1, dir), std::to_string(r.rank), ".", std::to_string(chunk)}));
  const double t0 = now();
  double* posted = mb->get<double>();
  // Waiting for a sender that has not reached its send yet is pipeline bubble; the rest is
  // the transfer itself.
  const double from = std::max(t0, *posted);
  delete posted;
  comms_.flow_ended(src, r.rank);
  r.res.pp_s += std::max(0.0, now() - from);
  record(r, "pp", "pp recv", t0);
}

void StepSim::recv_input(Rank& r, const detail::PipeOp& op) {
  if (op.weight) return;
  if (op.forward) {
    if (r.pp > 0)
      recv(r, peer(r, r.pp - 1), 'f', op.chunk);
    else if (op.chunk > 0)
      recv(r, peer(r, P_ - 1), 'f', op.chunk);
  } else {
    if (r.pp < P_ - 1)
      recv(r, peer(r, r.pp + 1), 'b', op.chunk);
    else if (op.chunk < v_ - 1)
      recv(r, peer(r, 0), 'b', op.chunk);
  }
}

void StepSim::send_output(Rank& r, const detail::PipeOp& op) {
  if (op.weight) return;
  if (op.forward) {
    if (r.pp < P_ - 1)
      send(r, peer(r, r.pp + 1), 'f', op.chunk);
    else if (op.chunk < v_ - 1)
      send(r, peer(r, 0), 'f', op.chunk + 1);
  } else {
    if (r.pp > 0)
      send(r, peer(r, r.pp - 1), 'b', op.chunk);
    else if (op.chunk > 0)
      send(r, peer(r, P_ - 1), 'b', op.chunk - 1);
  }
}

}  // namespace parplan::sim::detail
