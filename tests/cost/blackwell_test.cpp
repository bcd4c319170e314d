// Blackwell in the cost model: groups within a 72-GPU NVLink domain stay on NVLink
// (collectives.cpp place, moe.cpp ep_group, nccl_protocols.cpp lone_group), MXFP8 / NVFP4 priced
// at their peaks on Blackwell and refused with the reason on Hopper (fp8.cpp precision_refusal).
#include <gtest/gtest.h>

#include "parplan/cost/collectives.hpp"
#include "parplan/cost/corpus.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/nccl_protocols.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "../support/corpus_row.hpp"

namespace parplan::cost {
namespace {

Training recipe(Training t, Fp8Recipe r) {
  t.dtype = DType::FP8;
  t.fp8_recipe = r;
  return t;
}

TEST(NvlinkDomainPlacement, TensorGroupsUpTo72GpusStayOnNvlinkOnNvl72) {
  const Cluster nvl = load_cluster("gb200-nvl72"), hgx = load_cluster("dgx-b200");
  for (int32_t tp : {8, 16, 32, 64}) {
    const Layout l{.dp = 16, .tp = tp, .pp = 1};
    EXPECT_FALSE(place(l, nvl).tp.spans_nodes()) << tp;  // trays of 4, one NVLink domain
    EXPECT_EQ(place(l, hgx).tp.spans_nodes(), tp > 8) << tp;
  }
  // dp after tp=8: 8 ranks of the job's 64-GPU segment of a rack share the NVLink fabric with
  // stride 8 (64 / 8; whole 72-GPU racks would give 9, 9, ... and a ragged last rack).
  const Layout l{.dp = 16, .tp = 8, .pp = 1};
  EXPECT_EQ(place(l, nvl).dp.per_node, 8);
  Cluster whole = nvl;
  whole.nvlink_domain_segment_gpus = 0;
  EXPECT_EQ(place(l, whole).dp.per_node, 9);
  EXPECT_EQ(place(l, hgx).dp.per_node, 1);
}

TEST(NvlinkDomainPlacement, A16WayTensorAllReduceIsNvlinkFastOnNvl72AndNicBoundOnHgx) {
  const Cluster nvl = load_cluster("gb200-nvl72"), hgx = load_cluster("dgx-b200");
  const Layout l{.dp = 8, .tp = 16, .pp = 1};
  const double bytes = 64e6;  // one layer's activations, bf16
  const double t_nvl = collective_time(Collective::AllReduce, bytes, place(l, nvl).tp, nvl);
  const double t_hgx = collective_time(Collective::AllReduce, bytes, place(l, hgx).tp, hgx);
  // Alpha-beta by hand: NVLS moves the buffer once at 0.6 x 900 GB/s = 540 GB/s (~119 us);
  // across two HGX nodes the 8 GPUs' 50 GB/s NICs carry 1/8 of it each way twice (hierarchical).
  EXPECT_NEAR(t_nvl, bytes / 540e9, 0.5 * bytes / 540e9);
  EXPECT_GT(t_hgx, 2.0 * t_nvl);
}

TEST(NvlinkDomainPlacement, TheNicShareStaysOneNicPerGpuOnATray) {
  // Each tray's 4 GPUs share its 4 NICs: a group leaving the domain gets 50 GB/s per GPU, not
  // the tray's 200 GB/s split 72 ways.
  const Cluster nvl = load_cluster("gb200-nvl72");
  const Layout l{.dp = 32, .tp = 32, .pp = 1};
  const LinkRates r = link_rates(nvl, place(l, nvl).dp);
  EXPECT_DOUBLE_EQ(r.inter_bytes_per_s, 50e9 * nvl.efficiency.inter_node_link);
}

TEST(NvlinkDomainPlacement, ExpertGroupsOf64StayInsideTheRack) {
  const Cluster nvl = load_cluster("gb200-nvl72"), hgx = load_cluster("dgx-b200");
  const Layout l{.dp = 64, .tp = 1, .pp = 16, .ep = 64};
  EXPECT_FALSE(ep_group(l, nvl).spans_nodes());
  EXPECT_TRUE(ep_group(l, hgx).spans_nodes());
  const double bytes = 32e6;
  EXPECT_LT(collective_time(Collective::AllToAll, bytes, ep_group(l, nvl), nvl) * 4,
            collective_time(Collective::AllToAll, bytes, ep_group(l, hgx), hgx));
}

TEST(NvlinkDomainPlacement, LoneGroupsOfARackAreInsideOneDomain) {
  const Cluster nvl = load_cluster("gb200-nvl72");
  // A group of up to a rack's 72 GPUs sits in that rack (NVIDIA's published NVL72 all-reduce is
  // on 72); a larger one fills the 16-tray segment (64 GPUs) of each rack.
  EXPECT_FALSE(lone_group(72, nvl).spans_nodes());
  EXPECT_EQ(lone_group(72, nvl).per_node, 72);
  EXPECT_TRUE(lone_group(128, nvl).spans_nodes());
  EXPECT_EQ(lone_group(128, nvl).per_node, 64);
  Cluster whole = nvl;
  whole.nvlink_domain_segment_gpus = 0;
  EXPECT_FALSE(lone_group(72, whole).spans_nodes());
  EXPECT_EQ(lone_group(144, whole).per_node, 72);
}

TEST(BlackwellRecipes, Mxfp8AndNvfp4AreRefusedOnHopperWithTheReason) {
  const Cluster h = load_cluster("dgx-h100-80g");
  const Model m = load_model("llama3-70b");
  const Layout l{.dp = 16, .tp = 8, .pp = 4, .recompute = Recompute::Selective,
                 .sequence_parallel = true};
  for (Fp8Recipe r : {Fp8Recipe::Mxfp8, Fp8Recipe::Nvfp4}) {
    const Training t = recipe(load_training("llama3-8k"), r);
    const std::string why = precision_refusal(h.gpu, t);
    EXPECT_NE(why.find("Blackwell"), std::string::npos) << why;
    EXPECT_NE(why.find(to_string(r)), std::string::npos) << why;
    EXPECT_NE(why.find("10.0"), std::string::npos) << why;  // compute capability TE needs
    try {
      predict(m, h, t, l);
      FAIL() << to_string(r) << " priced on H100";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("Blackwell"), std::string::npos) << e.what();
    }
  }
  // The Hopper recipes still price there.
  EXPECT_EQ(precision_refusal(h.gpu, recipe(load_training("llama3-8k"), Fp8Recipe::Current)), "");
}

TEST(BlackwellRecipes, Mxfp8AndNvfp4ArePricedAtTheirPeaksOnBlackwell) {
  const Cluster b = load_cluster("dgx-b200");
  const Model m = load_model("llama3-70b");
  const Layout l{.dp = 16, .tp = 8, .pp = 4, .recompute = Recompute::Selective,
                 .sequence_parallel = true};
  const Training bf = load_training("llama3-8k");
  const Training mx = recipe(bf, Fp8Recipe::Mxfp8), nv = recipe(bf, Fp8Recipe::Nvfp4);
  EXPECT_EQ(precision_refusal(b.gpu, mx), "");
  EXPECT_EQ(precision_refusal(b.gpu, nv), "");
  EXPECT_EQ(linear_gemm_dtype(mx), DType::MXFP8);
  EXPECT_EQ(linear_gemm_dtype(nv), DType::NVFP4);
  const StepCost s_bf = predict(m, b, bf, l), s_mx = predict(m, b, mx, l), s_nv = predict(m, b, nv, l);
  EXPECT_LT(s_mx.step_time_s, s_bf.step_time_s);
  EXPECT_LT(s_nv.step_time_s, s_mx.step_time_s);
  // Not everything is a linear GEMM: FP4 GEMMs at 4x the BF16 peak do not make the step 4x faster.
  EXPECT_GT(s_nv.step_time_s, s_bf.step_time_s * 2250.0 / 9000.0);
  // MFU against the GEMM dtype's dense peak (fp8.hpp utilization_peak_flops): NVFP4's 9,000.
  EXPECT_DOUBLE_EQ(s_nv.mfu, s_nv.model_tflops_per_gpu * 1e12 / 9000e12);
  // NVFP4 saves the 4-bit GEMM inputs (0.5 + 1/16 bytes) where MXFP8 saves 1 byte.
  EXPECT_DOUBLE_EQ(saved_gemm_input_bytes(nv), 0.5 + 1.0 / 16.0);
  EXPECT_LT(s_nv.memory.activations, s_mx.memory.activations);
}

// The corpus's Blackwell source (data/published/mbridge-blackwell.json, Megatron-Bridge 25.11 and
// 26.02 tables): every row loads on a Blackwell preset, the four systems and the MXFP8 / NVFP4
// recipes are there, and every row is a fit row (the shipped Blackwell efficiencies are fitted on
// them: examples/calibration/efficiency.json).
TEST(BlackwellCorpus, MegatronBridgeRowsRunOnTheBlackwellPresets) {
  int rows = 0, nvfp4 = 0, mxfp8 = 0, rack = 0;
  for (const auto& s : load_embedded_corpus()) {
    if (s.id != "mbridge-blackwell") continue;
    EXPECT_TRUE(s.fit_source);
    for (const CorpusRun& r : s.runs) {
      ++rows;
      EXPECT_EQ(r.generation(), "blackwell") << r.label();
      EXPECT_TRUE(r.fit) << r.label();
      EXPECT_EQ(precision_refusal(r.cluster.gpu, r.training), "") << r.label();
      nvfp4 += r.training.fp8() && r.training.fp8_recipe == Fp8Recipe::Nvfp4;
      mxfp8 += r.training.fp8() && r.training.fp8_recipe == Fp8Recipe::Mxfp8;
      rack += r.cluster.nvlink_domain() == 72;
    }
  }
  EXPECT_EQ(rows, 39);  // 32 + the 7 Qwen3-30B-A3B rows
  EXPECT_EQ(nvfp4, 4);
  EXPECT_GE(mxfp8, 10);
  EXPECT_EQ(rack, 30);  // GB200 and GB300 rows
}


// The NVFP4 recipes turn TP communication overlap off (Megatron-Bridge v0.3.0 = 26.02,
// scripts/performance/configs/llama/llama3_llm_pretrain.py and llama31_llm_pretrain.py:
// `cfg.comm_overlap.tp_comm_overlap = False if precision == "nvfp4"`), where the MXFP8 rows of
// the same tables keep it on: every TP collective of an NVFP4 row with TP > 1 is exposed, and the
// MXFP8 row of the same model and system (26.02 GB200 405B: TP 4, PP 16, VP 8 in both) hides part.
TEST(BlackwellCorpus, Nvfp4RowsExposeTheirTensorParallelCollectivesAsTheRecipesRunThem) {
  int tp_rows = 0;
  for (const auto& s : load_embedded_corpus()) {
    if (s.id != "mbridge-blackwell") continue;
    for (const CorpusRun& r : s.runs) {
      if (!(r.training.fp8() && r.training.fp8_recipe == Fp8Recipe::Nvfp4)) continue;
      if (r.layout.tp <= 1) continue;
      ++tp_rows;
      EXPECT_EQ(r.training.tp_comm_overlap, Switch::Off) << r.label();
      const StepWork w = step_work(r.model, r.cluster, r.training, r.layout);
      EXPECT_FALSE(w.tp_hidden) << r.label();
      // Every collective, and the NVFP4 quantizers' amax all-reduces (fp8_test.cpp).
      EXPECT_DOUBLE_EQ(w.tp_exposed_s,
                       double(w.tp_fwd_collectives + w.tp_bwd_collectives) * w.tp_collective_s +
                           w.amax_reduce_s)
          << r.label();
    }
  }
  EXPECT_EQ(tp_rows, 3);  // 70B GB200 (TP 2), 405B GB300 and GB200 (TP 4); 70B GB300 is TP 1
  const CorpusRun nvfp4 = test::corpus_row("mbridge-blackwell/26.02-gb200-llama3-405b-nvfp4-256gpu");
  const CorpusRun mxfp8 = test::corpus_row("mbridge-blackwell/26.02-gb200-llama3-405b-mxfp8-256gpu");
  EXPECT_EQ(nvfp4.layout.tp, mxfp8.layout.tp);
  const StepWork a = step_work(nvfp4.model, nvfp4.cluster, nvfp4.training, nvfp4.layout);
  const StepWork b = step_work(mxfp8.model, mxfp8.cluster, mxfp8.training, mxfp8.layout);
  EXPECT_TRUE(b.tp_hidden);
  EXPECT_DOUBLE_EQ(a.tp_collective_s, b.tp_collective_s);  // the same BF16 activations
  EXPECT_GT(a.tp_exposed_s, b.tp_exposed_s);
}

}  // namespace
}  // namespace parplan::cost
