#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {
namespace {

TEST(ParseFixed, ReadsEveryKeyAndValue) {
  Fixed f = parse_fixed(
      "dp=16, tp=8,pp=8,cp=2,mb=1,zero=1,recompute=selective,sp=true,schedule=interleaved,v=2,"
      "offload=none");
  EXPECT_EQ(f.dp, 16);
  EXPECT_EQ(f.tp, 8);
  EXPECT_EQ(f.pp, 8);
  EXPECT_EQ(f.cp, 2);
  EXPECT_EQ(f.micro_batch, 1);
  EXPECT_EQ(f.zero, 1);
  EXPECT_EQ(f.recompute, Recompute::Selective);
  EXPECT_EQ(f.sequence_parallel, true);
  EXPECT_EQ(f.schedule, Schedule::Interleaved);
  EXPECT_EQ(f.virtual_stages, 2);
  EXPECT_EQ(f.offload, Offload::None);
}

TEST(ParseFixed, AcceptsLongKeyNamesAndLeavesOthersFree) {
  Fixed f = parse_fixed("micro_batch=4,virtual_stages=3,sequence_parallel=false,rc=full");
  EXPECT_EQ(f.micro_batch, 4);
  EXPECT_EQ(f.virtual_stages, 3);
  EXPECT_EQ(f.sequence_parallel, false);
  EXPECT_EQ(f.recompute, Recompute::Full);
  EXPECT_FALSE(f.tp.has_value());
  EXPECT_FALSE(f.dp.has_value());
}

TEST(ParseFixed, EmptyTextPinsNothing) {
  Fixed f = parse_fixed("");
  EXPECT_FALSE(f.tp || f.pp || f.dp || f.cp || f.zero || f.recompute || f.offload);
}

TEST(ParseFixed, RejectsAnUnknownKeyNamingItAndTheKnownKeys) {
  try {
    parse_fixed("tp=8,foo=2");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("foo"), std::string::npos) << m;
    EXPECT_NE(m.find("tp, pp"), std::string::npos) << m;
  }
}

TEST(ParseFixed, RejectsBadValues) {
  EXPECT_THROW(parse_fixed("tp=eight"), Error);
  EXPECT_THROW(parse_fixed("tp=0"), Error);
  EXPECT_THROW(parse_fixed("tp=8x"), Error);
  EXPECT_THROW(parse_fixed("zero=4"), Error);
  EXPECT_THROW(parse_fixed("recompute=some"), Error);
  EXPECT_THROW(parse_fixed("schedule=zigzag"), Error);
  EXPECT_THROW(parse_fixed("offload=nvme"), Error);
  EXPECT_THROW(parse_fixed("sp=maybe"), Error);
  EXPECT_THROW(parse_fixed("tp"), Error);
}

}  // namespace
}  // namespace parplan::planner
