// Host time per Python module call and the CUDA-graph scopes that take a layer's parts off the
// host (floors.cpp layer_floors; examples/frameworks/megatron-core.json kernels.modules,
// kernels.graph_scopes, host.module_call_us).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
// A fine-grained MoE GPT (Qwen3-30B-A3B's expert shape): 128 experts of 768, top-8.
Model moe_gpt() {
  Model m;
  m.name = "moe-2048x8";
  m.layers = 8, m.hidden = 2048, m.heads = 16, m.kv_heads = 4, m.ffn_hidden = 6144;
  m.vocab = 50257, m.max_seq_len = 4096, m.gated_mlp = true;
  m.moe.experts = 128, m.moe.experts_per_token = 8, m.moe.expert_ffn_hidden = 768;
  return m;
}
Training train() {
  Training t;
  t.global_batch = 64, t.seq_len = 4096, t.dtype = DType::BF16;
  t.framework = "megatron-core";
  return t;
}
Layout ep8() {
  Layout l;
  l.dp = 8, l.ep = 8, l.micro_batch = 1;
  return l;
}
LayerFloors floors_at(const Model& m, Cluster c, const Training& t, const Layout& l, double call_s) {
  c.gpu.floors.module_call_s = call_s;
  return layer_floors(m, c, t, l);
}
}  // namespace

TEST(ModuleCalls, EachCallCostsHostTimePerPassOnTopOfItsKernels) {
  const Model m = moe_gpt();
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = train();
  const FrameworkBehaviour& mc = framework_behaviour(t);
  // Counted from Megatron-Core's code: 5 TE modules a dense layer, 11 more calls a MoE layer.
  ASSERT_EQ(mc.kernels.modules_fwd, 5.0);
  ASSERT_EQ(mc.kernels.moe_modules_fwd, 11.0);
  ASSERT_GT(mc.host.module_call_s, 0.0);
  EXPECT_GT(module_call_s(c.gpu, t), 0.0);  // the shipped fit's value, or the prior
  const Layout l = ep8();
  const LayerFloors none = floors_at(m, c, t, l, 0), some = floors_at(m, c, t, l, 100e-6);
  EXPECT_NEAR(some.host_fwd_s - none.host_fwd_s, 16 * 100e-6, 1e-12);
  EXPECT_NEAR(some.host_s - none.host_s, 2 * 16 * 100e-6, 1e-12);  // forward + backward
  EXPECT_DOUBLE_EQ(some.device_s, none.device_s);                 // host only
  Layout full = l;
  full.recompute = Recompute::Full;  // the recomputed forward calls its modules again
  EXPECT_NEAR(floors_at(m, c, t, full, 100e-6).host_s - floors_at(m, c, t, full, 0).host_s,
              3 * 16 * 100e-6, 1e-12);
  // A dense model pays the dense layer's 5 calls only.
  Model dense = m;
  dense.moe = {};
  EXPECT_NEAR(floors_at(dense, c, t, Layout{}, 100e-6).host_fwd_s -
                  floors_at(dense, c, t, Layout{}, 0).host_fwd_s,
              5 * 100e-6, 1e-12);
  // Enough of it makes a micro-batch-1 MoE step host-bound: the step grows with it.
  auto step = [&](double call_s) {
    Cluster cc = c;
    cc.gpu.floors.module_call_s = call_s;
    return predict(m, cc, t, l).step_time_s;
  };
  EXPECT_GT(step(400e-6), step(0) * 1.2);
  // megatron-deepspeed counts no module calls: the cluster's value changes nothing.
  t.framework = "megatron-deepspeed";
  EXPECT_EQ(module_call_s(c.gpu, t), 0.0);
  EXPECT_DOUBLE_EQ(floors_at(m, c, t, l, 500e-6).host_s, floors_at(m, c, t, l, 0).host_s);
}

TEST(CudaGraphScopes, AScopeReplacesItsKernelsAndModuleCallsWithOneLaunchPerPass) {
  const Model m = moe_gpt();
  Cluster c = load_cluster("dgx-h100-80g");
  c.gpu.floors.module_call_s = 80e-6;
  Training t = train();
  const Layout l = ep8();
  const FrameworkBehaviour& mc = framework_behaviour(t);
  const GpuFloors g = gpu_floors(c.gpu);
  const double fwd_kernel = g.kernel_launch_s + mc.host.dispatch_fwd_s;
  const double bwd_kernel = g.kernel_launch_s + mc.host.dispatch_bwd_s;
  const LayerFloors eager = layer_floors(m, c, t, l);
  // Megatron-Bridge's Qwen3-30B-A3B Blackwell recipes: TE graphs of the router and the
  // dispatcher's preprocessing (kernels 8 + 8 forward, 10 + 2 backward; modules 4 + 1 a pass).
  t.cuda_graph_scope = {"moe_router", "moe_preprocess"};
  const LayerFloors graphed = layer_floors(m, c, t, l);
  EXPECT_NEAR(eager.host_fwd_s - graphed.host_fwd_s, (16 - 2) * fwd_kernel + 5 * 80e-6, 1e-12);
  EXPECT_NEAR((eager.host_s - eager.host_fwd_s) - (graphed.host_s - graphed.host_fwd_s),
              (12 - 2) * bwd_kernel + 5 * 80e-6, 1e-12);
  EXPECT_DOUBLE_EQ(graphed.device_s, eager.device_s);  // the kernels still run on the GPU
  EXPECT_DOUBLE_EQ(graphed.kernels, eager.kernels);
  // MoE scopes take nothing off a dense model; the attention scope does.
  Model dense = m;
  dense.moe = {};
  Training td = train();
  const double dense_eager = layer_floors(dense, c, td, Layout{}).host_fwd_s;
  td.cuda_graph_scope = {"moe_router", "moe_preprocess"};
  EXPECT_DOUBLE_EQ(layer_floors(dense, c, td, Layout{}).host_fwd_s, dense_eager);
  td.cuda_graph_scope = {"attn"};
  EXPECT_NEAR(dense_eager - layer_floors(dense, c, td, Layout{}).host_fwd_s,
              (6 - 1) * fwd_kernel + 3 * 80e-6, 1e-12);
  // A scope the framework does not list is not priced (its file names what it prices).
  td.cuda_graph_scope = {"mlp"};
  EXPECT_DOUBLE_EQ(layer_floors(dense, c, td, Layout{}).host_fwd_s, dense_eager);
}

TEST(CudaGraphScopes, TrainingReadsTheScopesAndNamesABadOne) {
  Diagnostics d;
  const Training t = training_from_json(
      nlohmann::json{{"global_batch", 8}, {"seq_len", 1024},
                     {"cuda_graph_scope", {"moe_router", "moe_preprocess", "moe_router"}}},
      d);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(t.cuda_graph_scope, (std::vector<std::string>{"moe_router", "moe_preprocess"}));
  EXPECT_EQ(to_json(t)["cuda_graph_scope"],
            (nlohmann::json{"moe_router", "moe_preprocess"}));  // written back as read
  for (const nlohmann::json& bad : {nlohmann::json{"router"}, nlohmann::json("attn"),
                                    nlohmann::json{1}}) {
    Diagnostics e;
    training_from_json(nlohmann::json{{"global_batch", 8}, {"seq_len", 1024},
                                      {"cuda_graph_scope", bad}},
                       e);
    ASSERT_FALSE(e.ok()) << bad.dump();
    EXPECT_NE(e.errors.front().find("train.cuda_graph_scope"), std::string::npos)
        << e.errors.front();
  }
}

// A scope the run captured but the framework's inventory does not list is priced as if not
// captured; the CLI warns about each such scope (apps/inputs.cpp).
TEST(CudaGraphScopes, ScopesTheFrameworkHasNoInventoryForAreNamed) {
  Training t;
  t.framework = "megatron-core";
  t.cuda_graph_scope = {"attn", "mlp", "moe_router"};
  EXPECT_EQ(unpriced_graph_scopes(t), std::vector<std::string>{"mlp"});
  t.framework = "fsdp2";  // no graph scopes in its inventory
  EXPECT_EQ(unpriced_graph_scopes(t), (std::vector<std::string>{"attn", "mlp", "moe_router"}));
  t.cuda_graph_scope.clear();
  EXPECT_TRUE(unpriced_graph_scopes(t).empty());
}
