// Issue 21 item 4: the lock of `parplan run --out X` / `--ckpt-dir D` (path_lock.cpp) lives under
// a hidden parplan name on the resolved path, so a user's own `X.lock` or `D/.lock` is never
// deleted, and a run into X and one into a symbolic link to X exclude each other.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "parplan/model/error.hpp"
#include "parplan/model/output_policy.hpp"
#include "path_lock.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {
fs::path scratch() {
  static fs::path d = [] {
    auto p = fs::temp_directory_path() / ("parplan_path_lock_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(PathLock, UserLockFilesAreNeverTouched) {
  const fs::path out = scratch() / "m.json", ckpt = scratch() / "ckpt";
  fs::create_directories(ckpt);
  std::ofstream(out.string() + ".lock") << "the user's own file";
  std::ofstream(ckpt / ".lock") << "the user's own file too";
  {
    runtime::PathLock a(lock_path_for(out.string()), "--out m.json");
    runtime::PathLock b(lock_path_for(ckpt.string(), true), "--ckpt-dir ckpt");
    EXPECT_TRUE(slurp(lock_path_for(out.string())).starts_with(kLockMarker));
  }
  EXPECT_EQ(slurp(out.string() + ".lock"), "the user's own file");
  EXPECT_EQ(slurp(ckpt / ".lock"), "the user's own file too");
  EXPECT_FALSE(fs::exists(lock_path_for(out.string()))) << "our lock file is removed on release";
}

TEST(PathLock, AFileAndALinkToItShareOneLock) {
  const fs::path out = scratch() / "x.json", link = scratch() / "link.json";
  std::ofstream(out) << "{}";
  fs::create_symlink(out, link);
  runtime::PathLock held(lock_path_for(out.string()), "--out x.json");
  try {
    runtime::PathLock second(lock_path_for(link.string()), "--out link.json");
    FAIL() << "a second run into a link to the same file must be refused";
  } catch (const EnvironmentError& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another parplan run (pid " +
                                         std::to_string(::getpid())),
              std::string::npos)
        << e.what();
  }
}

TEST(PathLock, AForeignFileUnderTheLockNameIsRefusedAndKept) {
  const fs::path out = scratch() / "y.json";
  const std::string lock = lock_path_for(out.string());
  std::ofstream(lock) << "not a parplan lock";
  try {
    runtime::PathLock l(lock, "--out y.json");
    FAIL() << "a file parplan did not write is not a lock to take";
  } catch (const EnvironmentError&) {
    FAIL() << "it is bad input (exit 2), not an environment failure";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was not written by parplan"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(lock), "not a parplan lock");
  fs::remove(lock);
  fs::create_symlink("/dev/null", lock);
  EXPECT_THROW(runtime::PathLock(lock, "--out y.json"), Error);
  EXPECT_TRUE(fs::is_symlink(lock));
}
