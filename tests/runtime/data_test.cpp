#include "parplan/runtime/data.hpp"

#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"

using namespace parplan;
using namespace parplan::runtime;

static const std::string kShakespeare = std::string(PARPLAN_SHARED_DIR) + "/data/tinyshakespeare/input.txt";

TEST(Data, TinyShakespeareSplitsNinetyTenWithSixtyFiveSymbols) {
  auto d = dataset_from_text(kShakespeare);
  EXPECT_EQ(d.train.size(), 1003854u);  // nanoGPT shakespeare_char/prepare.py
  EXPECT_EQ(d.val.size(), 111540u);
  EXPECT_EQ(d.vocab.size(), 65u);
  EXPECT_EQ(decode(d, {encode(d, "ROMEO:")[0], encode(d, "ROMEO:")[1]}), "RO");
}

TEST(Data, PreparedDirectoryLoadsBackTheSameTokens) {
  auto d = dataset_from_text(kShakespeare);
  auto dir = std::filesystem::temp_directory_path() / "parplan_prepare_test";
  write_prepared(d, dir.string());
  auto e = load_dataset(dir.string());
  EXPECT_EQ(e.train, d.train);
  EXPECT_EQ(e.val, d.val);
  EXPECT_EQ(e.vocab, d.vocab);
  std::filesystem::remove_all(dir);
}

TEST(Data, MissingOrBinaryFileIsAClearError) {
  EXPECT_THROW(dataset_from_text("/nonexistent/input.txt"), Error);
  auto p = std::filesystem::temp_directory_path() / "parplan_not_utf8.txt";
  std::string bad(200, 'a');
  bad[50] = char(0xff);
  FILE* f = std::fopen(p.c_str(), "wb");
  std::fwrite(bad.data(), 1, bad.size(), f);
  std::fclose(f);
  EXPECT_THROW(dataset_from_text(p.string()), Error);
}

TEST(Data, NoTwoDpRanksSeeTheSameSequencesInAStep) {
  for (int dp : {2, 4}) {
    for (int64_t step = 0; step < 20; ++step) {
      auto global = batch_offsets(1337, step, 64, 256, 1003854);
      std::set<int64_t> seen;
      size_t total = 0;
      for (int r = 0; r < dp; ++r) {
        auto mine = rank_offsets(global, dp, r);
        EXPECT_EQ(mine.size(), 64u / size_t(dp));
        for (auto o : mine) seen.insert(o);
        total += mine.size();
      }
      EXPECT_EQ(seen.size(), total) << "step " << step << ": two DP ranks share a sequence";
    }
  }
  // The same step draws the same global batch everywhere; different steps differ.
  EXPECT_EQ(batch_offsets(7, 3, 8, 32, 10000), batch_offsets(7, 3, 8, 32, 10000));
  EXPECT_NE(batch_offsets(7, 3, 8, 32, 10000), batch_offsets(7, 4, 8, 32, 10000));
}
