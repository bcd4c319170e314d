// JSON forms of the cost model's results (docs/design.md: `parplan predict --json`).
#include <nlohmann/json.hpp>

#include "parplan/cost/step.hpp"

namespace parplan::cost {

nlohmann::json to_json(const MemoryBreakdown& m) {
  return {{"params", m.params},
          {"grads", m.grads},
          {"optimizer", m.optimizer},
          {"activations", m.activations},
          {"buffers", m.buffers},
          {"reserve", m.reserve},
          {"total", m.total},
          {"capacity", m.capacity},
          {"cpu_offload", m.cpu_offload},
          {"host_per_node", m.host_per_node},
          {"host_capacity", m.host_capacity},
          {"nvme_per_node", m.nvme_per_node},
          {"stage", m.stage}};
}

nlohmann::json to_json(const StepCost& s) {
  const TimeBreakdown& t = s.time;
  return {{"step_time_s", s.step_time_s},
          {"tokens_per_s", s.tokens_per_s},
          {"model_tflops_per_gpu", s.model_tflops_per_gpu},
          {"hardware_tflops_per_gpu", s.hardware_tflops_per_gpu},
          {"mfu", s.mfu},
          {"hfu", s.hfu},
          {"fits", s.fits},
          {"micro_batches", s.micro_batches},
          {"exposed_comm_fraction", s.exposed_comm_fraction},
          {"memory_per_gpu_bytes", to_json(s.memory)},
          {"time_s",
           {{"compute", t.compute},
            {"tp_comm", t.tp_comm},
            {"cp_comm", t.cp_comm},
            {"ep_comm", t.ep_comm},
            {"launch_latency", t.launch_latency},
            {"pp_comm", t.pp_comm},
            {"pp_bubble", t.pp_bubble},
            {"dp_comm_exposed", t.dp_comm_exposed},
            {"dp_comm_total", t.dp_comm_total},
            {"optimizer", t.optimizer}}},
          {"flops_per_step", {{"model", s.flops.model}, {"hardware", s.flops.hardware}}}};
}

}  // namespace parplan::cost
