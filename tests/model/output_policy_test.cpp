// Issue 21 items 1-4 and 13: the one output policy (parplan/model/output_policy.hpp) as every
// writer gets it through write_file_atomic() and check_output().
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/output_policy.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {
fs::path scratch() {
  static fs::path d = [] {
    auto p = fs::temp_directory_path() / ("parplan_output_policy_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}
std::string at(const std::string& name) { return (scratch() / name).string(); }
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// The message of the parplan::Error `f` throws ("" if none); `environment` tells which kind.
std::string error_of(const std::function<void()>& f, bool* environment = nullptr) {
  try {
    f();
  } catch (const EnvironmentError& e) {
    if (environment) *environment = true;
    return e.what();
  } catch (const Error& e) {
    if (environment) *environment = false;
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }
int temporaries(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}
}  // namespace

// Item 1: /dev/null and /dev/full (as root: replaced by a JSON file before), a FIFO and a socket
// are refused and stay what they were.
TEST(OutputPolicy, DevicesFifosAndSocketsAreRefusedAndLeftAlone) {
  for (const char* dev : {"/dev/null", "/dev/full"}) {
    auto msg = error_of([&] { write_file_atomic(dev, "{}"); });
    EXPECT_TRUE(has(msg, "is not a regular file")) << dev << ": " << msg;
    struct stat st {};
    ASSERT_EQ(::stat(dev, &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << dev << " is still a device";
    msg = error_of([&] { check_output("--out", dev); });
    EXPECT_TRUE(has(msg, "--out '")) << msg;
  }
  const std::string fifo = at("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(has(error_of([&] { write_file_atomic(fifo, "x"); }), "FIFO"));
  EXPECT_TRUE(fs::is_fifo(fifo));

  const std::string sock = at("sock");
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_TRUE(has(error_of([&] { write_file_atomic(sock, "x"); }), "socket"));
  EXPECT_TRUE(fs::is_socket(sock));
  ::close(fd);
  EXPECT_EQ(temporaries(scratch()), 0);
}

// Item 1: a symbolic link is written through: the file it points to is replaced, the link stays;
// a link to a device or to nothing is refused.
TEST(OutputPolicy, SymlinksAreWrittenThroughNeverReplaced) {
  const std::string target = at("target.json"), link = at("link.json");
  std::ofstream(target) << "old";
  ::chmod(target.c_str(), 0640);
  fs::create_symlink("target.json", link);  // relative, as users make them
  write_file_atomic(link, "new");
  EXPECT_TRUE(fs::is_symlink(link)) << "the link itself is kept";
  EXPECT_EQ(slurp(target), "new");
  EXPECT_EQ(fs::status(target).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read)
      << "a replaced file keeps its permission bits";
  EXPECT_EQ(resolve_output_target(link), (scratch() / "target.json").string());

  const std::string to_dev = at("to_null");
  fs::create_symlink("/dev/null", to_dev);
  EXPECT_TRUE(has(error_of([&] { write_file_atomic(to_dev, "x"); }), "a symbolic link to '/dev/null'"));
  EXPECT_TRUE(fs::is_symlink(to_dev));
  const std::string dangling = at("dangling");
  fs::create_symlink(at("nowhere/x.json"), dangling);
  EXPECT_TRUE(has(error_of([&] { write_file_atomic(dangling, "x"); }), "does not exist"));
  EXPECT_FALSE(fs::exists(at("nowhere")));
}

// Item 2: the output may not be any input, however it is spelled (relative path, symlink, hard
// link); a preset name or inline JSON is no file.
TEST(OutputPolicy, AnInputIsNeverTheOutput) {
  const std::string in = at("model.json");
  std::ofstream(in) << R"({"layers": 2})";
  auto msg = error_of([&] { check_output("--out", in, {"gpt3-175b", "{\"tp\": 8}", in}); });
  EXPECT_TRUE(has(msg, "is the same file as the input")) << msg;
  fs::create_hard_link(in, at("hard.json"));
  EXPECT_TRUE(has(error_of([&] { check_output("--out", at("hard.json"), {in}); }), "same file"));
  fs::create_symlink(in, at("soft.json"));
  EXPECT_TRUE(has(error_of([&] { check_output("--out", in, {at("soft.json")}); }), "same file"));
  const std::string dotted = (scratch() / "." / "model.json").string();
  EXPECT_TRUE(has(error_of([&] { check_output("--out", dotted, {in}); }), "same file"));
  EXPECT_EQ(slurp(in), R"({"layers": 2})");
  EXPECT_EQ(check_output("--out", at("other.json"), {in, "gpt3-175b"}), at("other.json"));
  EXPECT_TRUE(has(error_of([&] { check_output("--out", ""); }), "--out is empty"));
}

// Item 3: a companion that exists is refused unless --force.
TEST(OutputPolicy, AnExistingCompanionNeedsForce) {
  const std::string mine = at("ds_config.json");
  std::ofstream(mine) << "user's own";
  auto msg = error_of([&] { check_companion("--out", mine, {}, false); });
  EXPECT_TRUE(has(msg, "already exists")) << msg;
  EXPECT_TRUE(has(msg, "--force")) << msg;
  EXPECT_NO_THROW(check_companion("--out", mine, {}, true));
  EXPECT_NO_THROW(check_companion("--out", at("fresh_companion.json"), {}, false));
  EXPECT_EQ(slurp(mine), "user's own");
}

// Item 15: no folder is created for a file; item 13: a FIFO or "" as an output folder.
TEST(OutputPolicy, MissingFoldersAndBadFoldersAreRefused) {
  auto msg = error_of([&] { check_output("--out", at("missing/dir/m.json")); });
  EXPECT_TRUE(has(msg, "its folder does not exist")) << msg;
  EXPECT_FALSE(fs::exists(at("missing")));
  EXPECT_TRUE(has(error_of([&] { check_output_dir("--out", ""); }), "--out is empty"));
  ::mkfifo(at("fifo_dir").c_str(), 0600);
  EXPECT_TRUE(has(error_of([&] { check_output_dir("--out", at("fifo_dir")); }), "is not a folder"));
  EXPECT_TRUE(has(error_of([&] { check_output_dir("--out", at("a/b/c")); }), "its folder does not exist"));
  EXPECT_EQ(check_output_dir("--out", at("new_dir")), at("new_dir"));
}

// Item 4: locks live under a hidden parplan name on the resolved path: the same lock for a file
// and a symbolic link to it, never `<out>.lock` (a name users have).
TEST(OutputPolicy, LockPathsAreResolvedAndCannotCollide) {
  const std::string real = at("measured.json"), link = at("measured_link.json");
  std::ofstream(real) << "{}";
  fs::create_symlink(real, link);
  const std::string lock = lock_path_for(real);
  EXPECT_EQ(lock, (fs::canonical(scratch()) / ".measured.json.parplan-lock").string());
  EXPECT_EQ(lock_path_for(link), lock);
  EXPECT_EQ(lock_path_for((scratch() / "." / "measured.json").string()), lock);
  EXPECT_NE(lock, real + ".lock");
  fs::create_directories(at("ckpt"));
  EXPECT_EQ(lock_path_for(at("ckpt"), true), (fs::canonical(at("ckpt")) / ".parplan-lock").string());
}

// Item 13: past `ulimit -f` a writer gets EFBIG (an environment failure, exit 3) instead of being
// killed by SIGXFSZ, and the temporary is removed. In a child: the limit and the signal
// disposition are the process's.
TEST(OutputPolicy, AFileSizeLimitIsAnEnvironmentFailureNotASignal) {
  const std::string dir = at("fsize");
  fs::create_directories(dir);
  ::signal(SIGXFSZ, SIG_DFL);  // as a fresh process has it
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit small {};
    ::getrlimit(RLIMIT_FSIZE, &small);
    small.rlim_cur = 4096;
    ::setrlimit(RLIMIT_FSIZE, &small);
    bool env = false;
    std::string msg = error_of([&] { write_file_atomic(dir + "/big.json", std::string(1 << 20, 'x')); }, &env);
    ::_exit(env && has(msg, "file-size limit") ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "an EnvironmentError naming the file-size limit";
  EXPECT_EQ(temporaries(dir), 0);
  EXPECT_FALSE(fs::exists(dir + "/big.json"));
}
