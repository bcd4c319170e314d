#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "parplan/cost/corpus.hpp"
#include "parplan/cost/corpus_report.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

TEST(Corpus, HoldsAtLeastFortyRunsFromSixSourcesEachWithItsTable) {
  const auto corpus = load_embedded_corpus();
  size_t runs = 0, over_1000 = 0;
  std::set<std::string> gens, frameworks;
  for (const auto& s : corpus) {
    EXPECT_FALSE(s.citation.empty()) << s.id;
    for (const auto& r : s.runs) {
      ++runs;
      EXPECT_FALSE(r.table.empty()) << r.label();
      EXPECT_GT(r.measured, 0) << r.label();
      if (r.fit) {
        EXPECT_TRUE(s.fit_source) << r.label();
      }
      if (r.layout.gpus() >= 1000) ++over_1000;
      gens.insert(r.generation());
      frameworks.insert(r.training.framework_name());
    }
  }
  EXPECT_GE(runs, 40u);
  EXPECT_GE(corpus.size(), 6u);
  EXPECT_GE(over_1000, 5u);
  EXPECT_TRUE(gens.count("ampere") && gens.count("hopper"));
  for (const char* f : {"megatron-core", "megatron-deepspeed", "deepspeed", "fsdp2"})
    EXPECT_TRUE(frameworks.count(f)) << f;
}

// Every source is fitted on (docs/calibration.md): leave-one-source-out is what says whether the
// fit generalises. A row may still be left out of the fit ("fit": false, with the reason).
TEST(Corpus, EverySourceIsAFitSource) {
  size_t fit_rows = 0, rows = 0;
  for (const auto& s : load_embedded_corpus()) {
    EXPECT_TRUE(s.fit_source) << s.id;
    for (const auto& r : s.runs) fit_rows += r.fit, ++rows;
  }
  EXPECT_GE(fit_rows, rows - 4);
}

// Korthikanti et al. 2022 Table 5, the row that runs 175B on 64 GPUs with full recomputation:
// 18.13 s measured, on the interleaved schedule of Table 3's 175B configuration (3 virtual
// stages, as its selective row; docs/calibration.md).
TEST(Corpus, RealRowReadsAsPublished) {
  for (const auto& s : load_embedded_corpus()) {
    if (s.id != "korthikanti2022") continue;
    const CorpusRun& r = s.runs.at(2);
    EXPECT_EQ(r.id, "175b-full");
    EXPECT_EQ(r.figure, Figure::StepTime);
    EXPECT_DOUBLE_EQ(r.measured, 18.13);
    EXPECT_EQ(r.layout.tp, 8);
    EXPECT_EQ(r.layout.pp, 8);
    EXPECT_EQ(r.layout.schedule, Schedule::Interleaved);
    EXPECT_EQ(r.layout.virtual_stages, 3);
    EXPECT_EQ(r.training.global_batch, 64);
    EXPECT_FALSE(r.training.flash_attention);
    const SourceReport rep = validate_source(s);
    // The shipped A100 efficiencies are the all-source fit (5.6% on this tree): docs/calibration.md
    // "Results (this tree)".
    EXPECT_LE(rep.mape, 0.07);
    return;
  }
  FAIL() << "korthikanti2022 missing";
}

TEST(Corpus, ThroughputRowsCompareAsStepTime) {
  // torchtitan A100: 331 tokens/s/GPU measured; a prediction of 662 is twice as fast, i.e. a
  // step time half the measured one: ratio 0.5.
  CorpusRun r;
  r.figure = Figure::TokensPerGpu;
  r.measured = 331;
  r.layout.dp = 64;
  StepCost s;
  s.tokens_per_s = 662.0 * 64;
  EXPECT_DOUBLE_EQ(figure_of(s, r), 662.0);
  EXPECT_DOUBLE_EQ(step_ratio(s, r), 0.5);
}

TEST(Corpus, BadRowNamesTheFileRowAndField) {
  const nlohmann::json j = nlohmann::json::parse(R"({"id": "x", "source": "s", "fit_source": false,
    "runs": [{"id": "r1", "table": "T1", "model": "gpt3-175b", "cluster": "dgx-a100-80g", "gpus": 64,
      "training": {"global_batch": 64, "seq_len": 2048},
      "layout": {"dp": 1, "tp": 8, "pp": 8}, "fit": true, "measured": {"step_time_s": 1}}]})");
  try {
    corpus_source_from_json(j, "x.json");
    FAIL() << "accepted fit: true in a non-fit source";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json run \"r1\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fit"), std::string::npos) << e.what();
  }
}

TEST(Spearman, MatchesHandComputedRanks) {
  // y ranks 1, 2, 3.5, 5, 3.5 (the two 7s share 3.5); against 1..5:
  // sum dx dy = 4 + 1 + 0 + 2 + 1 = 8, sum dx^2 = 10, sum dy^2 = 9.5: rho = 8 / sqrt(95).
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 8 / std::sqrt(95.0), 1e-12);
  EXPECT_NEAR(spearman({1, 2, 3}, {30, 20, 10}), -1.0, 1e-12);
  EXPECT_NEAR(spearman({10, 200, 3000}, {1, 2, 3}), 1.0, 1e-12);  // ranks, not values
  EXPECT_TRUE(std::isnan(spearman({1, 2}, {1, 2})));
  EXPECT_TRUE(std::isnan(spearman({1, 2, 3}, {4, 4, 4})));
}

TEST(Corpus, AnUnverifiedRowMustSayWhat) {
  const nlohmann::json j = nlohmann::json::parse(R"({"id": "x", "source": "s", "fit_source": false,
    "runs": [{"id": "r1", "table": "T1", "model": "gpt3-175b", "cluster": "dgx-a100-80g", "gpus": 64,
      "training": {"global_batch": 64, "seq_len": 2048},
      "layout": {"dp": 1, "tp": 8, "pp": 8}, "verified": false, "measured": {"step_time_s": 1}}]})");
  try {
    corpus_source_from_json(j, "x.json");
    FAIL() << "accepted verified: false without a reason";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unverified"), std::string::npos) << e.what();
  }
}

// Llama 3 Table 4 (arXiv:2407.21783 v3), first row: 8,192 GPUs = TP 8 x CP 1 x PP 16 x DP 64,
// batch size per DP group 32 -> 32 x 64 = 2048 sequences of 8,192 tokens (16.8M, "16M"),
// 430 TFLOPs/GPU; interleaved with one layer per chunk: (126 + 2) / 16 = 8 chunks per stage.
TEST(Corpus, Llama3RowReadsAsTable4) {
  for (const auto& s : load_embedded_corpus()) {
    if (s.id != "llama3-2024") continue;
    const CorpusRun& r = s.runs.at(0);
    EXPECT_EQ(r.layout.gpus(), 8192);
    EXPECT_EQ(r.layout.dp, 64);
    EXPECT_EQ(r.layout.pp, 16);
    EXPECT_EQ(r.training.global_batch / r.layout.dp, 32);
    EXPECT_EQ(r.training.global_batch * r.training.seq_len, 2048 * 8192);
    EXPECT_EQ(r.layout.virtual_stages, 8);
    EXPECT_EQ(r.layout.first_stage_layers + 14 * 8 + r.layout.last_stage_layers, 126);
    EXPECT_DOUBLE_EQ(r.measured, 430);
    EXPECT_FALSE(r.verified);  // the micro-batch and the chunks per stage are not printed
    return;
  }
  FAIL() << "llama3-2024 missing";
}

// llm-foundry's MPT rows as the benchmark ran them (learned positions of the row's sequence,
// biases): parplan's parameter count is the NumParams column of llm-foundry@061f2c7
// scripts/train/benchmarking/README.md, which grows with the sequence by d_model per position.
TEST(Corpus, LlmFoundryMptRowsCountTheParametersItsReadmeLists) {
  const std::map<std::string, double> readme = {{"a100-mpt-1b-2048-8gpu", 1315950592.0},
                                                {"h100-mpt-7b-2048-8gpu", 6658859008.0},
                                                {"h100-mpt-7b-8192-8gpu", 6684024832.0},
                                                {"a100-mpt-13b-32768-8gpu", 13011240960.0},
                                                {"h100-mpt-70b-2048-64gpu", 64862437376.0},
                                                {"a100-mpt-125m-65536-8gpu", 174070272.0},
                                                {"a100-mpt-350m-512-8gpu", 354412544.0},
                                                {"h100-mpt-760m-32768-8gpu", 807656448.0},
                                                {"h100-mpt-3b-65536-8gpu", 2814366720.0}};
  size_t found = 0;
  for (const auto& s : load_embedded_corpus())
    for (const auto& r : s.runs)
      if (const auto it = readme.find(r.id); s.id == "llm-foundry" && it != readme.end()) {
        ++found;
        EXPECT_DOUBLE_EQ(count_params(r.model).total, it->second) << r.id;
        EXPECT_EQ(r.training.framework_name(), "llm-foundry") << r.id;
      }
  EXPECT_EQ(found, readme.size());
}

TEST(Corpus, LlmFoundryA100SequenceSweepsHoldAtHeadDim64And128) {
  // The README's A100 80GB table runs MPT-125M (head dim 64) and MPT-1B (head dim 128) on 8 GPUs
  // from sequence 512 to 32768: throughput falls 4.6x and 3.7x as the Triton flash kernel's share
  // grows. Priced by the GEMM shape model (g(head dim)), the predicted 125M fall came out 13% too
  // steep and the 1B one 17% too shallow; at the kernel's own rate (examples/frameworks/
  // llm-foundry.json, flat in head dim) each within 6%.
  std::map<std::string, const CorpusRun*> rows;
  const auto corpus = load_embedded_corpus();
  for (const auto& s : corpus)
    if (s.id == "llm-foundry")
      for (const auto& r : s.runs) rows[r.id] = &r;
  for (const char* size : {"125m", "1b"}) {
    const std::string lo = std::string("a100-mpt-") + size + "-512-8gpu",
                      hi = std::string("a100-mpt-") + size + "-32768-8gpu";
    ASSERT_TRUE(rows.count(lo) && rows.count(hi)) << size;
    const CorpusRun &a = *rows[lo], &b = *rows[hi];
    EXPECT_EQ(a.figure, Figure::TokensPerGpu);
    const double measured = b.measured / a.measured;
    const double predicted = figure_of(predict(b.model, b.cluster, b.training, b.layout), b) /
                             figure_of(predict(a.model, a.cluster, a.training, a.layout), a);
    EXPECT_NEAR(predicted / measured, 1.0, 0.06) << size << ": measured " << measured;
  }
}
