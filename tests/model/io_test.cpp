#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "parplan/model/io.hpp"

using namespace parplan;

TEST(Presets, EveryPresetLoadsAndValidates) {
  for (auto name : preset_names(InputKind::Model)) EXPECT_NO_THROW(load_model(name)) << name;
  for (auto name : preset_names(InputKind::Cluster)) EXPECT_NO_THROW(load_cluster(name)) << name;
  for (auto name : preset_names(InputKind::Training)) EXPECT_NO_THROW(load_training(name)) << name;
  EXPECT_GE(preset_names(InputKind::Model).size(), 11u);
  EXPECT_GE(preset_names(InputKind::Cluster).size(), 4u);
}

TEST(Presets, Gpt3HasThePublishedShape) {
  // Brown et al. 2020 Table 2.1: 96 layers, d_model 12288, 96 heads.
  Model m = load_model("gpt3-175b");
  EXPECT_EQ(m.layers, 96);
  EXPECT_EQ(m.hidden, 12288);
  EXPECT_EQ(m.heads, 96);
}

TEST(InputSpec, AcceptsInlineJson) {
  Layout l = load_layout(R"({"dp": 2, "tp": 4})");
  EXPECT_EQ(l.dp, 2);
  EXPECT_EQ(l.tp, 4);
}

TEST(InputSpec, AcceptsAFilePath) {
  auto path = std::filesystem::temp_directory_path() / "parplan_io_test_model.json";
  {
    std::ofstream(path) << R"({"layers": 2, "hidden": 64, "heads": 4, "vocab": 10})";
  }
  EXPECT_EQ(load_model(path.string()).hidden, 64);
  std::filesystem::remove(path);
}

TEST(InputSpec, MalformedJsonNamesTheByteOffset) {
  try {
    load_model(R"({"layers": 2,, "hidden": 64})");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("byte"), std::string::npos);
  }
}

TEST(InputSpec, MissingFileAndUnknownPresetAreClearErrors) {
  try {
    load_model("/nonexistent/model.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos);
  }
  try {
    load_cluster("dgx-z900");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dgx-a100-80g"), std::string::npos);  // lists presets
  }
}

TEST(InputSpec, EmptyModelListsEveryMissingField) {
  try {
    load_model("{}");
    FAIL();
  } catch (const Error& e) {
    std::string w = e.what();
    for (auto f : {"model.layers", "model.hidden", "model.heads", "model.vocab"})
      EXPECT_NE(w.find(f), std::string::npos) << f;
  }
}

TEST(WriteFileAtomic, ReplacesTheFileWholeAndLeavesNoTemporary) {
  auto path = (std::filesystem::temp_directory_path() / "parplan_atomic.json").string();
  write_file_atomic(path, "one");
  write_file_atomic(path, "two");
  EXPECT_EQ(read_file(path), "two");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
}

TEST(InputSpec, NumberOverflowIsAClearErrorNotACrash) {
  // Found by the fuzzer: nlohmann throws out_of_range (not parse_error) for 3e5555.
  EXPECT_THROW(load_model(R"({"layers": 3e5555, "hidden": 64, "heads": 4, "vocab": 10})"), Error);
}
