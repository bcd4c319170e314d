// Activation offload (Megatron-Core cpu_offloading / Transformer Engine cpu_offload.py) on a real
// corpus row: Megatron-Bridge 26.02, Llama 3 70B FP8 on 64 GB200 with Megatron FSDP, whose recipe
// offloads the activations of 40 of the 80 layers (cpu_offloading_num_layers=40).
#include <gtest/gtest.h>

#include <string>

#include "parplan/cost/corpus.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/step.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
CorpusRun gb200_70b() {
  return test::corpus_row("mbridge-blackwell/26.02-gb200-llama3-70b-fp8-64gpu");
}
std::string errors_of(const Layout& l, const CorpusRun& r) {
  Diagnostics d;
  validate(l, r.model, r.cluster, r.training, d);
  std::string s;
  for (auto& e : d.errors) s += e + "\n";
  return s;
}
}  // namespace

TEST(ActivationOffload, TheRowRecordsItsRecipesOffloadAndHostMemoryHoldsIt) {
  const CorpusRun r = gb200_70b();
  ASSERT_EQ(r.layout.activation_offload_layers, 40);
  ASSERT_EQ(r.model.layers, 80);
  Layout none = r.layout;
  none.activation_offload_layers = 0;
  const MemoryBreakdown with = memory_per_gpu(r.model, r.cluster, r.training, r.layout);
  const MemoryBreakdown without = memory_per_gpu(r.model, r.cluster, r.training, none);
  // 40 layers' activations in host RAM, 41 layers' on the GPU (one in transit, memory.cpp).
  const double layer = without.layer_activations / 80.0;
  EXPECT_NEAR(with.layer_activations, 41 * layer, 1e-9 * without.layer_activations);
  EXPECT_NEAR(with.cpu_offload, 40 * layer, 1e-9 * without.layer_activations);
  // Four GPUs share a node's host memory (960 GiB): their 4 x 40 layers fit it.
  EXPECT_NEAR(with.host_per_node, 4 * with.cpu_offload, 1e-9 * with.cpu_offload);
  EXPECT_TRUE(with.fits_host);
}

TEST(ActivationOffload, CopiesHideBehindComputeOnNvlinkC2cAndAreExposedOnASlowLink) {
  const CorpusRun r = gb200_70b();
  Layout none = r.layout;
  none.activation_offload_layers = 0;
  const double base = predict(r.model, r.cluster, r.training, none).step_time_s;
  // NVLink-C2C (225 GB/s per GPU in the preset): 40 layers' copies fit in 79 layers' compute.
  EXPECT_DOUBLE_EQ(predict(r.model, r.cluster, r.training, r.layout).step_time_s, base);
  // A 2 GB/s host link: each layer's copy (several GB) outlasts the layer's compute, and the
  // backlog beyond (L - 1) layers' compute shows in forward and backward of each micro-batch.
  Cluster slow = r.cluster;
  slow.host.pcie_bytes_per_s = 2e9;
  const StepCost s = predict(r.model, slow, r.training, r.layout);
  const StepWork w = step_work(r.model, slow, r.training, r.layout);
  const double copy = 40 * layer_activation_bytes(r.model, r.training, r.layout) / 2e9;
  const double exposed = double(w.micro_batches) * ((copy - 79 * w.layer.fwd_s) +
                                                    (copy - 79 * w.layer.bwd_s));
  ASSERT_GT(copy, 79 * w.layer.bwd_s);
  EXPECT_NEAR(s.step_time_s - predict(r.model, slow, r.training, none).step_time_s, exposed,
              1e-9 * exposed);
}

TEST(ActivationOffload, AllButOneLayerOfTheStageIsTheMostThatIsPriced) {
  const CorpusRun r = gb200_70b();
  EXPECT_EQ(errors_of(r.layout, r), "");
  Cluster slow = r.cluster;
  slow.host.pcie_bytes_per_s = 2e9;
  Layout most = r.layout;
  most.activation_offload_layers = 79;
  const StepWork w = step_work(r.model, slow, r.training, most);
  const double copy = 79 * layer_activation_bytes(r.model, r.training, most) / 2e9;
  Layout none = r.layout;
  none.activation_offload_layers = 0;
  EXPECT_NEAR(predict(r.model, slow, r.training, most).step_time_s -
                  predict(r.model, slow, r.training, none).step_time_s,
              double(w.micro_batches) * (2 * copy - 79 * (w.layer.fwd_s + w.layer.bwd_s)),
              1e-9 * copy);
}
