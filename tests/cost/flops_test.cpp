#include <gtest/gtest.h>

#include "parplan/cost/flops.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

TEST(ParamCount, Gpt3HasAbout175BillionParameters) {
  // Brown et al. 2020: 175.0 B parameters.
  EXPECT_NEAR(count_params(test::gpt3()).total / 1e9, 175.0, 0.5);
}

TEST(ParamCount, Llama3_8BAndLlama2_70BMatchTheirModelCards) {
  EXPECT_NEAR(count_params(load_model("llama3-8b")).total / 1e9, 8.03, 0.05);
  EXPECT_NEAR(count_params(load_model("llama2-70b")).total / 1e9, 68.98, 0.1);
}

TEST(StepFlops, FullRecomputationMatchesNarayananEquation3) {
  // Narayanan et al. 2021 eq. 3: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)).
  Model m = test::gpt3();
  Training t = test::gpt3_train();
  Layout l;
  l.recompute = Recompute::Full;
  const double B = double(t.global_batch), s = double(t.seq_len), L = double(m.layers),
               h = double(m.hidden), V = double(m.vocab);
  const double expected = 96 * B * s * L * h * h * (1 + s / (6 * h) + V / (16 * L * h));
  EXPECT_NEAR(step_flops(m, t, l).hardware / expected, 1.0, 1e-12);
  // Model FLOPs drop the recomputed forward: 72 B s l h^2 (1 + s/(6h)) + 6 B s h V.
  const double model = 72 * B * s * L * h * h * (1 + s / (6 * h)) + 6 * B * s * h * V;
  EXPECT_NEAR(step_flops(m, t, l).model / model, 1.0, 1e-12);
}

TEST(StepFlops, ModelFlopsAreAboutSixTimesParametersPerToken) {
  // Kaplan et al. 2020: C ~ 6 N per token when the attention term is small.
  Model m = test::gpt3();
  Training t = test::gpt3_train();
  const double tokens = double(t.global_batch * t.seq_len);
  const double n = count_params(m).total;
  EXPECT_NEAR(step_flops(m, t, Layout{}).model / (6 * n * tokens), 1.0, 0.05);
}

TEST(StepFlops, SelectiveRecomputationAddsOnlyTheAttentionCore) {
  Model m = test::gpt3();
  Training t = test::gpt3_train();
  Layout sel;
  sel.recompute = Recompute::Selective;
  auto f = step_flops(m, t, sel);
  const double core = attention_core_forward_flops(m, double(t.global_batch * t.seq_len), double(t.seq_len)) * double(m.layers);
  EXPECT_DOUBLE_EQ(f.hardware - f.model, core);
}
