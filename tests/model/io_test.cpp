#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>

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

// ---- Issue 11: unbounded and hostile inputs, failed writes ----

namespace {
std::filesystem::path scratch(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("parplan_io_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d / name;
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
std::vector<std::string> temporaries_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (has(e.path().filename().string(), ".tmp")) out.push_back(e.path().string());
  return out;
}
}  // namespace

// Item 13: /dev/zero was read until memory ran out; a FIFO would block forever.
TEST(ReadFile, RejectsDevicesFifosDirectoriesAndOversizedFiles) {
  EXPECT_TRUE(has(error_of([] { read_file("/dev/zero"); }), "is not a regular file"));
  EXPECT_TRUE(has(error_of([] { load_model("/dev/urandom"); }), "is not a regular file"));
  auto fifo = scratch("fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(has(error_of([&] { read_file(fifo.string()); }), "is not a regular file"));
  EXPECT_TRUE(has(error_of([&] { read_file(fifo.parent_path().string()); }), "is a directory"));
  auto big = scratch("big.json");
  std::ofstream(big) << "{";
  std::filesystem::resize_file(big, kMaxInputBytes + 1);  // sparse
  auto msg = error_of([&] { load_model(big.string()); });
  EXPECT_TRUE(has(msg, "over the limit of 67108864 bytes")) << msg;
  EXPECT_EQ(read_file(big.string(), kMaxInputBytes + 1).size(), kMaxInputBytes + 1);
}

// Item 12: a directory given as an output path, a missing folder, and a write that fails midway
// (RLIMIT_FSIZE, as a full disk): clear errors, and no temporary left behind.
TEST(WriteFileAtomic, FailuresAreClearAndLeaveNoTemporary) {
  auto dir = scratch("out");
  std::filesystem::create_directories(dir);
  auto msg = error_of([&] { write_file_atomic(dir.string(), "x"); });
  EXPECT_TRUE(has(msg, "is a directory; give a file name")) << msg;
  EXPECT_TRUE(temporaries_in(dir.parent_path()).empty());
  msg = error_of([&] { write_file_atomic((dir / "no" / "such" / "f.json").string(), "x"); });
  EXPECT_TRUE(has(msg, "its folder does not exist")) << msg;

  struct rlimit old {};
  getrlimit(RLIMIT_FSIZE, &old);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  setrlimit(RLIMIT_FSIZE, &small);
  bool environment = false;
  try {
    write_file_atomic((dir / "big.json").string(), std::string(1 << 20, 'x'));
  } catch (const EnvironmentError& e) {
    environment = true;
    msg = e.what();
  } catch (const Error& e) {
    msg = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(environment) << "a failed write is an environment failure: " << msg;
  EXPECT_TRUE(has(msg, "File too large")) << msg;
  EXPECT_TRUE(temporaries_in(dir).empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "big.json"));
}

// Item 4: 100,000 levels of nesting inside a field: the error message's dump() recursed per level.
TEST(InputSpec, DeepNestingInsideAFieldIsAnErrorNotACrash) {
  const size_t depth = 100000;
  std::string nested = std::string(depth, '[') + "2" + std::string(depth, ']');
  auto msg = error_of([&] {
    load_model(R"({"name": "m", "hidden": 64, "heads": 4, "vocab": 10, "layers": )" + nested + "}");
  });
  EXPECT_TRUE(has(msg, "model.layers: must be an integer, got an array of 1 elements")) << msg;
  msg = error_of([&] { load_layout(R"({"dp": )" + nested + "}"); });
  EXPECT_TRUE(has(msg, "layout.dp: must be an integer, got an array of 1 elements")) << msg;
  msg = error_of([&] { load_training(R"({"dtype": )" + nested + "}"); });
  EXPECT_TRUE(has(msg, "dtype: must be a string, got an array of 1 elements")) << msg;
  // Kept as JSON in a plan (copied and dumped later): bounded.
  auto plan = to_json(Plan{});
  plan["prediction"] = nlohmann::json::object();
  auto text = plan.dump();
  text.insert(text.find("\"prediction\":{") + 14, "\"x\":" + nested);
  EXPECT_TRUE(has(error_of([&] { load_plan(text); }), "plan.prediction: nests deeper than 32 levels"));
}

// Item 15: a 5 MB invalid string, a 1 MB name, control characters: short messages, no echo.
TEST(InputSpec, LongAndControlCharacterStringsAreCutOrRejected) {
  auto msg = error_of([] { load_model(R"({"name": ")" + std::string(5 << 20, 'A')); });
  EXPECT_TRUE(has(msg, "malformed JSON")) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 600u);
  msg = error_of([] {
    load_model(R"({"layers": 2, "hidden": 64, "heads": 4, "vocab": 10, "name": ")" +
               std::string(1 << 20, 'B') + "\"}");
  });
  EXPECT_TRUE(has(msg, "model.name: is 1048576 bytes long; at most 4096")) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 600u);
  msg = error_of([] {
    load_model(R"({"layers": 2, "hidden": 64, "heads": 4, "vocab": 10, "name": "a\u001b[31mb"})");
  });
  EXPECT_TRUE(has(msg, "must not contain control characters")) << msg;
  EXPECT_TRUE(has(msg, "a\\x1b[31mb")) << msg;  // shown escaped, never raw
  EXPECT_EQ(brief(std::string(100, 'x'), 10), "xxxxxxxxxx... (100 bytes)");
}
