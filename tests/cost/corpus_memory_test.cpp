// The memory check of `parplan validate` on real corpus rows: every measured run ran, so it fit.
#include <gtest/gtest.h>

#include <string>

#include "parplan/cost/corpus_memory.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/memory.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}  // namespace

TEST(CorpusMemory, CountsEveryRowAndListsThoseOverTheirGpuLargestTermFirst) {
  const auto corpus = load_embedded_corpus();
  std::vector<SourceReport> reps;
  size_t rows = 0;
  for (const auto& s : corpus) {
    reps.push_back(validate_source(s));
    rows += s.runs.size();
  }
  const MemoryCheck m = memory_check(reps);
  EXPECT_EQ(m.rows, rows);
  EXPECT_EQ(m.fit + m.over.size(), rows);
  for (const auto& r : m.over) {
    EXPECT_TRUE(r.predicted_bytes > r.capacity_bytes || !r.fits_host) << r.run;
    double sum = 0;
    for (size_t k = 0; k < r.terms.size(); ++k) {
      sum += r.terms[k].bytes;
      if (k) {
        EXPECT_GE(r.terms[k - 1].bytes, r.terms[k].bytes) << r.run;
      }
    }
    EXPECT_NEAR(sum / r.predicted_bytes, 1.0, 1e-9) << r.run;  // the terms are the whole peak
  }
  // Korthikanti et al. 2022 sized their layouts by this memory model (Table 2 / Figure 1), on
  // 80 GB A100s: every one of their rows fits.
  for (const auto& r : m.over) EXPECT_NE(r.run.rfind("korthikanti2022/", 0), 0u) << r.run;
  // torchtitan's H100 rows publish their peak (torchtitan docs/performance.md, 'Memory' column):
  // the figure as published, next to the prediction of the row's peak stage.
  bool titan = false;
  for (const auto& p : m.published)
    if (p.run == "torchtitan-h100/t2-8b-cp8-256k") {
      titan = true;
      EXPECT_NEAR(p.measured_bytes / kGiB, 84.5, 1e-9);
      const CorpusRun r = test::corpus_row(p.run);
      EXPECT_EQ(p.predicted_bytes, memory_per_gpu(r.model, r.cluster, r.training, r.layout).total);
    }
  EXPECT_TRUE(titan);
}

TEST(CorpusMemory, ARealRowOnAGpuWithTooLittleMemoryIsListed) {
  // Megatron-Bridge 25.11, Llama 3 70B on 64 H100 (a row that fits its 80 GB): on a GPU with half
  // its predicted peak the check lists it, with that GPU's capacity and the peak stage.
  auto corpus = load_embedded_corpus();
  CorpusSource* mb = nullptr;
  for (auto& s : corpus)
    if (s.id == "megatron-bridge") mb = &s;
  ASSERT_NE(mb, nullptr);
  CorpusSource one = *mb;
  one.runs.clear();
  for (const auto& r : mb->runs)
    if (r.model.name.find("llama3-70b") != std::string::npos) one.runs.push_back(r);
  ASSERT_FALSE(one.runs.empty());
  const MemoryCheck fits = memory_check({validate_source(one)});
  EXPECT_EQ(fits.fit, one.runs.size());
  EXPECT_TRUE(fits.over.empty());
  const double peak = memory_per_gpu(one.runs[0].model, one.runs[0].cluster, one.runs[0].training,
                                     one.runs[0].layout).total;
  CorpusSource small = one;
  small.runs.resize(1);
  small.runs[0].cluster.gpu.memory_bytes = 0.5 * peak;
  const MemoryCheck over = memory_check({validate_source(small)});
  EXPECT_EQ(over.fit, 0u);
  ASSERT_EQ(over.over.size(), 1u);
  EXPECT_EQ(over.over[0].run, small.runs[0].label());
  EXPECT_EQ(over.over[0].capacity_bytes, 0.5 * peak);
  EXPECT_GT(over.over[0].predicted_bytes, over.over[0].capacity_bytes);
  EXPECT_NE(memory_check_table(over).find("0 of 1 measured runs predicted to fit"), std::string::npos);
}

TEST(CorpusMemory, MegatronBridgeQwen3RowsFitTheH100sTheyRanOn) {
  // Megatron-Bridge 25.11 / 26.02 ran Qwen3-30B-A3B on 16 H100 80GB (PP 2, EP 8, interleaved):
  // it fit. Megatron-Core applies the router probabilities inside the experts' activation and
  // combines with an unweighted unpermute, so no expert output is kept per routed row
  // (examples/frameworks/megatron-core.json saved_activations.moe_expert_output); counting one
  // (86.9 GiB on the 25.11 row) would call the run out of memory.
  for (const char* label : {"megatron-bridge/25.11-qwen3-30b-a3b-16gpu", "megatron-bridge/26.02-qwen3-30b-a3b-16gpu"}) {
    const CorpusRun row = test::corpus_row(label);
    const CorpusRun* r = &row;
    const MemoryBreakdown b = memory_per_gpu(r->model, r->cluster, r->training, r->layout);
    EXPECT_TRUE(b.fits) << label << ": " << b.total / kGiB << " GiB";
    // Under a framework file that keeps the default (one expert output per routed row, fsdp2.json):
    // more activation memory.
    Training t = r->training;
    t.framework = "fsdp2";
    EXPECT_GT(memory_per_gpu(r->model, r->cluster, t, r->layout).activations, b.activations) << label;
  }
}

TEST(CorpusMemory, LlamaThreeSeventyBOnGb300FitsWithTheRecipesActivationOffloading) {
  // Megatron-Bridge 25.11 Llama 3 70B FP8-CS on 64 GB300 (FSDP, MBS 2, no recompute) ran with
  // cpu_offloading_num_layers=20 (the row's layout.activation_offload_layers, cited on the row):
  // without it the 80 layers' activations alone exceed the GPU's 288 GiB; with it the run fits,
  // and the offloaded activations of the node's 4 GPUs fit its host memory.
  const CorpusRun row = test::corpus_row("mbridge-blackwell/25.11-gb300-llama3-70b-fp8-cs-64gpu");
  const CorpusRun* r = &row;
  ASSERT_EQ(r->layout.activation_offload_layers, 20);
  const MemoryBreakdown with = memory_per_gpu(r->model, r->cluster, r->training, r->layout);
  EXPECT_TRUE(with.fits) << with.total / kGiB;
  EXPECT_GT(with.cpu_offload, 0.0);
  EXPECT_TRUE(with.fits_host);
  EXPECT_LE(with.host_per_node, with.host_capacity);
  Layout none = r->layout;
  none.activation_offload_layers = 0;
  const MemoryBreakdown without = memory_per_gpu(r->model, r->cluster, r->training, none);
  EXPECT_FALSE(without.fits) << without.total / kGiB;
  // 20 layers' activations go to the host, 19 leave the GPU (one is in transit at a time).
  EXPECT_NEAR((without.layer_activations - with.layer_activations) / with.cpu_offload, 19.0 / 20.0, 1e-9);
  EXPECT_NEAR(with.layer_activations / without.layer_activations, 61.0 / 80.0, 1e-9);
  // Step time does not change: the copies run on their own stream (not priced).
  EXPECT_EQ(predict(r->model, r->cluster, r->training, r->layout).step_time_s,
            predict(r->model, r->cluster, r->training, none).step_time_s);
}

TEST(CorpusMemory, LlmFoundryRowsHoldTheFusedLossesSixteenBitLogits) {
  // llm-foundry@061f2c7's benchmark ran MPT with loss_fn fused_crossentropy (the default; flash-attn
  // 1.0.9's xentropy kernel): it keeps the bf16 logits and writes a bf16 gradient, 4 bytes per
  // logit (examples/frameworks/llm-foundry.json saved_activations.logits), not the fp32 logits and
  // gradient (8) of the vocab-parallel cross-entropy. Benchmarked at the largest micro-batch that
  // fit, these runs sat near 80 GB: with 8 bytes a logit (80.1-83.4 GiB) none of them fits.
  for (const char* label :
       {"llm-foundry/h100-mpt-760m-512-8gpu", "llm-foundry/a100-mpt-760m-16384-8gpu",
        "llm-foundry/h100-mpt-1b-2048-16gpu", "llm-foundry/h100-mpt-1b-2048-64gpu",
        "llm-foundry/h100-mpt-3b-8192-8gpu", "llm-foundry/a100-mpt-3b-8192-8gpu"}) {
    const CorpusRun r = test::corpus_row(label);
    ASSERT_EQ(r.training.framework, "llm-foundry") << label;
    EXPECT_EQ(framework_behaviour(r.training).saved.logits, 4.0);
    const MemoryBreakdown b = memory_per_gpu(r.model, r.cluster, r.training, r.layout);
    EXPECT_TRUE(b.fits) << label << ": " << b.total / kGiB << " GiB";
    // Under fsdp2.json (which llm-foundry.json extends; the default fp32 count) only the logits
    // term moves: 4 more bytes per logit of the micro-batch, and the run no longer fits.
    Training fp32 = r.training;
    fp32.framework = "fsdp2";
    const MemoryBreakdown f = memory_per_gpu(r.model, r.cluster, fp32, r.layout);
    const double logits = double(r.training.seq_len) * double(r.layout.micro_batch) * double(r.model.vocab);
    EXPECT_NEAR((f.buffers - b.buffers) / logits, 4.0, 1e-9) << label;
    EXPECT_EQ(f.activations, b.activations) << label;
    EXPECT_FALSE(f.fits) << label << ": " << f.total / kGiB << " GiB";
  }
}
