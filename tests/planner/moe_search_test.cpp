// Expert parallelism in the layout search (planner/src/search.cpp ep_choices, --fix ep/etp).
#include <gtest/gtest.h>

#include "parplan/cost/moe.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/rules.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {
namespace {

struct MoeInputs {
  Model m = load_model("mixtral-8x7b");
  Cluster c = load_cluster("dgx-h100-80g");
  Training t;
  MoeInputs() {
    t.global_batch = 64;
    t.seq_len = 4096;
  }
};

SearchResult run(const MoeInputs& in, int64_t gpus, Fixed f = {}) {
  SearchOptions o;
  o.gpus = gpus;
  o.top_k = 1 << 20;
  o.fixed = f;
  o.threads = 2;
  return search(in.m, in.c, in.t, o);
}

TEST(MoeSearch, EveryLayoutFoldsEpIntoTheDataAndTensorRanks) {
  MoeInputs in;
  const SearchResult r = run(in, 32);
  ASSERT_FALSE(r.top.empty());
  bool saw_ep = false;
  for (const Candidate& c : r.top) {
    const Layout& l = c.layout;
    // Megatron-Core parallel folding: ep * etp divides tp * cp * dp; ep divides the 8 experts.
    EXPECT_EQ((int64_t(l.tp) * l.cp * l.dp) % (int64_t(l.ep) * l.etp), 0) << describe(l);
    EXPECT_EQ(8 % l.ep, 0) << describe(l);
    EXPECT_TRUE(l.etp == 1 || l.etp == l.tp) << describe(l);
    Diagnostics d;
    validate(l, in.m, in.c, in.t, d);
    EXPECT_TRUE(d.ok()) << describe(l) << ": " << (d.errors.empty() ? "" : d.errors.front());
    saw_ep = saw_ep || l.ep > 1;
  }
  EXPECT_TRUE(saw_ep);
}

TEST(MoeSearch, EpStaysInsideANodeWhenANodeHoldsIt) {
  // Mixtral's 8 experts fit one 8-GPU node: besides no EP, the search tries only the largest EP
  // group a node holds (8, or the largest divisor of tp*cp*dp below it), and an EP group crosses
  // nodes only when ep * etp exceeds the node.
  MoeInputs in;
  const SearchResult r = run(in, 32);
  for (const Candidate& c : r.top) {
    const Layout& l = c.layout;
    const int64_t fold = int64_t(l.tp) * l.cp * l.dp;
    int32_t in_node = 1;
    for (int32_t e : {2, 4, 8})
      if (fold % (int64_t(e) * l.etp) == 0 && e * l.etp <= 8) in_node = e;
    if (int64_t(l.ep) * l.etp <= 8) {
      EXPECT_TRUE(l.ep == 1 || l.ep == in_node) << describe(l);
      EXPECT_FALSE(cost::ep_group(l, in.c).spans_nodes()) << describe(l);
    }
  }
  // The best layout spreads the experts: 46.7B parameters do not fit 32 GPUs without EP or TP.
  EXPECT_GT(int64_t(r.top.front().layout.ep) * r.top.front().layout.tp, 1);
}

TEST(MoeSearch, PinnedEpAndEtpHoldInEveryResult) {
  MoeInputs in;
  const Fixed f = parse_fixed("ep=4,etp=1,tp=2");
  EXPECT_EQ(*f.ep, 4);
  EXPECT_EQ(*f.etp, 1);
  const SearchResult r = run(in, 32, f);
  ASSERT_FALSE(r.top.empty());
  for (const Candidate& c : r.top) {
    EXPECT_EQ(c.layout.ep, 4);
    EXPECT_EQ(c.layout.etp, 1);
  }
}

TEST(MoeSearch, ImpossibleEpPinsThrowNamingTheFix) {
  MoeInputs in;
  try {
    run(in, 32, parse_fixed("ep=3"));
    FAIL() << "ep=3 with 8 experts must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must divide the model's experts (8)"), std::string::npos)
        << e.what();
  }
  MoeInputs dense;
  dense.m = load_model("llama3-8b");
  EXPECT_THROW(run(dense, 32, parse_fixed("ep=2")), Error);
}

TEST(MoeRules, AllToAllOnNvlinkAndEpOverTpFireForMixtral) {
  MoeInputs in;
  const SearchResult r = run(in, 32);
  const auto rules = evaluate_rules(in.m, in.c, in.t, 32, r);
  const RuleReport* m1 = nullptr;
  const RuleReport* m2 = nullptr;
  for (const auto& x : rules) {
    if (x.id == "M1") m1 = &x;
    if (x.id == "M2") m2 = &x;
  }
  ASSERT_TRUE(m1 && m2);
  EXPECT_TRUE(m1->fires);
  EXPECT_TRUE(m2->fires);
  // Mixtral's experts (FFN 14336 > hidden 4096) are wide: expert TP is no violation of M2.
  EXPECT_EQ(m2->verdict, Verdict::Agrees);
  EXPECT_EQ(m1->numbers["ep"], r.top.front().layout.ep);
}

}  // namespace
}  // namespace parplan::planner
