// Issue 11: faults and bad inputs of `parplan run` (CPU, Gloo, a 2-layer GPT on Tiny Shakespeare).
// Each test would fail on the code before the fix it names: sockets on every interface (1), a
// segfault on --resume after the last step (3), a c10::Error and .tmp files on a full disk (7),
// a deleted <out>.errors/ (8), silently loaded damaged or foreign checkpoints (9), two runs on one
// --out (10), orphaned ranks (11), NaN losses with exit 0 (14).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/output_policy.hpp"
#include "parplan/runtime/run.hpp"
#include "../support/tiny_plan.hpp"
#include "run_support.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {

fs::path tmp_dir() { return test::process_dir("parplan_hard_"); }

Plan small_plan(int dp) { return test::tiny_char_plan(2, dp); }

runtime::RunOptions options(const std::string& name, int dp = 2, int64_t steps = 2) {
  auto dir = tmp_dir() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto plan_path = (dir / "plan.json").string();
  write_file_atomic(plan_path, to_json(small_plan(dp)).dump());
  runtime::RunOptions o;
  o.plan = plan_path;
  o.data = test::kShakespeare;
  o.out = (dir / "measured.json").string();
  o.steps = steps;
  o.eval_iters = 1;
  o.timeout_s = 20;
  o.quiet = true;
  o.threads = 1;
  return o;
}

nlohmann::json run(const runtime::RunOptions& o) { return test::run_here(o); }

std::string error_of(const runtime::RunOptions& o) {
  try {
    run(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A launcher in its own process (`runtime_test launch <json>`), its output in `log`, with `env`
// added to its environment.
pid_t start_launcher(const runtime::RunOptions& o, const std::string& log,
                     const std::map<std::string, std::string>& env = {}) {
  std::string json = runtime::to_json(o).dump();
  pid_t pid = fork();
  if (pid == 0) {
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    execl("/proc/self/exe", "runtime_test", "launch", json.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') out.push_back(pid_t(std::stoi(name)));
  }
  return out;
}

bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && line[close + 2] != 'Z';
}

// Waits (up to `s` seconds) until the launcher has `n` live ranks.
std::vector<pid_t> wait_for_ranks(pid_t launcher, size_t n, double s) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < s) {
    auto c = children_of(launcher);
    if (c.size() >= n) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return children_of(launcher);
}

bool all_gone(const std::vector<pid_t>& pids, double s) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < s) {
    bool any = false;
    for (auto p : pids) any = any || alive(p);
    if (!any) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Socket inodes of a process (/proc/PID/fd -> "socket:[INODE]").
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = fs::read_symlink(e.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) out.insert(target.substr(8, target.size() - 9));
  }
  return out;
}

struct Listener {
  std::string address;  // hex, as /proc/net/tcp{,6} writes it
  bool loopback = false;
};

// Listening TCP sockets (state 0A) among `inodes`, from /proc/net/tcp and /proc/net/tcp6.
std::vector<Listener> listeners(const std::set<std::string>& inodes) {
  std::vector<Listener> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream f(table);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      in >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (st != "0A" || !inodes.count(inode)) continue;
      auto addr = local.substr(0, local.find(':'));
      Listener l{addr, false};
      if (addr.size() == 8) {
        l.loopback = addr.substr(6, 2) == "7F";  // 127.0.0.0/8, little-endian hex
      } else if (addr.size() == 32) {
        l.loopback = addr == "00000000000000000000000001000000" ||             // ::1
                     (addr.substr(0, 24) == "0000000000000000FFFF0000" &&      // ::ffff:127.x
                      addr.substr(30, 2) == "7F");
      }
      out.push_back(l);
    }
  }
  return out;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

// Issue 21 items 6/7: a torchrun-style launch (two processes with RANK / WORLD_SIZE /
// MASTER_ADDR=127.0.0.1 / MASTER_PORT, no PARPLAN_RUN_SECRET) of the real `parplan run`
// rendezvouses through c10d's TCPStore (rank 0 hosts it, as torch.distributed's env:// does
// without torchrun's agent store) and every rank exits 0 (before: ranks != 0 exited 3, "the run
// wrote no results"); rank 0 writes --out.
TEST(Hardening, TorchrunStyleLaunchRendezvousesThroughC10dStoreAndEveryRankExitsZero) {
  auto o = options("cluster", 2, 2);
  const std::string bin = std::string(PARPLAN_BINARY_DIR) + "/apps/parplan";
  std::map<std::string, std::string> env{{"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"},
                                         {"MASTER_ADDR", "127.0.0.1"},
                                         {"MASTER_PORT", std::to_string(free_port())}};
  std::vector<pid_t> ranks;
  std::vector<std::string> logs;  // paths made here: tmp_dir() in a child would name its own pid
  for (int r = 0; r < 3; ++r) logs.push_back((tmp_dir() / ("cluster" + std::to_string(r) + ".log")).string());
  auto log = [&](int r) { return logs[size_t(r)]; };
  for (int r = 0; r < 2; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      ::unsetenv("PARPLAN_RUN_SECRET");
      ::unsetenv("PARPLAN_STORE_FILE");
      ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
      for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      FILE* f = std::freopen(log(r).c_str(), "w", stdout);
      f = std::freopen(log(r).c_str(), "a", stderr);
      (void)f;
      execl(bin.c_str(), "parplan", "run", "--plan", o.plan.c_str(), "--data", o.data.c_str(), "--out",
            o.out.c_str(), "--steps", "2", "--eval-iters", "1", "--threads", "1", "--timeout-s", "30",
            "--quiet", static_cast<char*>(nullptr));
      _exit(127);
    }
    ranks.push_back(pid);
  }
  for (int r = 0; r < 2; ++r) EXPECT_EQ(wait_exit(ranks[size_t(r)]), 0) << read_file(log(r));
  EXPECT_TRUE(has(read_file(log(1)), "rank 1 done; rank 0 writes")) << read_file(log(1));
  auto m = parse_json_text(read_file(o.out), o.out);
  EXPECT_EQ(m["nproc"], 2);
  EXPECT_EQ(m["loss"].size(), 2u);
  // A rank that cannot reach the store fails with exit 3 naming MASTER_ADDR:MASTER_PORT, not a hang.
  pid_t lone = fork();
  if (lone == 0) {
    ::unsetenv("PARPLAN_STORE_FILE");
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::setenv("RANK", "1", 1);
    ::setenv("LOCAL_RANK", "1", 1);
    FILE* f = std::freopen(log(2).c_str(), "w", stderr);
    (void)f;
    execl(bin.c_str(), "parplan", "run", "--plan", o.plan.c_str(), "--data", o.data.c_str(), "--out",
          (o.out + ".lone.json").c_str(), "--steps", "1", "--threads", "1", "--timeout-s", "2", "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  EXPECT_EQ(wait_exit(lone), 3) << read_file(log(2));
  EXPECT_TRUE(has(read_file(log(2)), "127.0.0.1:" + env["MASTER_PORT"])) << read_file(log(2));
}

// Item 1: while a 2-rank run is up, every listening socket of the launcher and its ranks is on
// 127.0.0.1 or ::1 (before: the c10d TCPStore listened on *:PORT, IPv4 and IPv6).
TEST(Hardening, LocalRunListensOnLoopbackOnly) {
  auto o = options("loopback", 2, 1000000);
  auto log = (tmp_dir() / "loopback.log").string();
  pid_t launcher = start_launcher(o, log);
  auto ranks = wait_for_ranks(launcher, 2, 30);
  ASSERT_EQ(ranks.size(), 2u);
  std::vector<Listener> seen;
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 15) {
    std::set<std::string> inodes = socket_inodes(launcher);
    for (auto r : ranks) inodes.merge(socket_inodes(r));
    for (auto& l : listeners(inodes)) seen.push_back(l);
    if (seen.size() >= 20) break;  // the ranks' Gloo listeners, sampled a few times
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(launcher, SIGTERM);
  EXPECT_EQ(wait_exit(launcher), 128 + SIGTERM);
  EXPECT_FALSE(seen.empty()) << "no listening socket seen: the check would prove nothing";
  for (auto& l : seen) EXPECT_TRUE(l.loopback) << "listening on " << l.address;
  EXPECT_TRUE(all_gone(ranks, 10));
}

// Item 11: the ranks die with a SIGKILLed launcher (PR_SET_PDEATHSIG) and a SIGTERM sent to the
// launcher is forwarded to them; the launcher then exits 128 + SIGTERM.
TEST(Hardening, RanksDieWithTheirLauncherAndSigtermIsForwarded) {
  auto o = options("orphans", 2, 1000000);
  pid_t launcher = start_launcher(o, (tmp_dir() / "orphans.log").string());
  auto ranks = wait_for_ranks(launcher, 2, 30);
  ASSERT_EQ(ranks.size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(launcher, SIGKILL);
  EXPECT_EQ(wait_exit(launcher), 128 + SIGKILL);
  EXPECT_TRUE(all_gone(ranks, 10)) << "ranks kept running after their launcher was killed";

  auto o2 = options("sigterm", 2, 1000000);
  auto log = (tmp_dir() / "sigterm.log").string();
  pid_t l2 = start_launcher(o2, log);
  auto r2 = wait_for_ranks(l2, 2, 30);
  ASSERT_EQ(r2.size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(l2, SIGTERM);
  EXPECT_EQ(wait_exit(l2), 128 + SIGTERM);
  EXPECT_TRUE(all_gone(r2, 10));
  EXPECT_TRUE(has(read_file(log), "interrupted by SIGTERM")) << read_file(log);
}

// Item 10: a second run on the same --out or --ckpt-dir stops with an environment error naming
// the lock, instead of reporting the first run's results as its own.
TEST(Hardening, TwoRunsCannotShareOutOrCheckpointDir) {
  auto o = options("lock_a", 1, 1000000);
  o.ckpt_dir = (tmp_dir() / "lock_a" / "ckpt").string();
  o.ckpt_interval = 1000000;
  pid_t first = start_launcher(o, (tmp_dir() / "lock_a.log").string());
  ASSERT_EQ(wait_for_ranks(first, 1, 30).size(), 1u);
  auto same_out = options("lock_b", 1, 1);
  same_out.out = o.out;
  try {
    run(same_out);
    ADD_FAILURE() << "the second run on the same --out should fail";
  } catch (const EnvironmentError& e) {
    EXPECT_TRUE(has(e.what(), "is in use by another parplan run")) << e.what();
    EXPECT_TRUE(has(e.what(), "pid " + std::to_string(first))) << e.what();
  }
  auto same_ckpt = options("lock_c", 1, 1);
  same_ckpt.ckpt_dir = o.ckpt_dir;
  same_ckpt.ckpt_interval = 1;
  try {
    run(same_ckpt);
    ADD_FAILURE() << "the second run on the same --ckpt-dir should fail";
  } catch (const EnvironmentError& e) {
    EXPECT_TRUE(has(e.what(), "--ckpt-dir")) << e.what();
  }
  kill(first, SIGTERM);
  wait_exit(first);
  EXPECT_FALSE(fs::exists(lock_path_for(o.out))) << "the lock file is removed with the lock";
  auto after = options("lock_b", 1, 1);
  after.out = o.out;
  EXPECT_NO_THROW(run(after));  // free again
}

// Item 8: nothing next to --out is deleted (before: <out>.errors/ was remove_all'ed).
TEST(Hardening, ARunDeletesNothingNextToItsOutput) {
  auto o = options("keep", 1, 1);
  auto mine = fs::path(o.out).replace_extension("errors");
  fs::create_directories(mine);
  std::ofstream(mine / "notes.txt") << "mine\n";
  run(o);
  EXPECT_TRUE(fs::exists(mine / "notes.txt"));
}

// Item 14: a loss that becomes NaN/inf stops the run with a clear error (before: exit 0 and
// `null` losses in measured.json).
TEST(Hardening, DivergingLossStopsTheRun) {
  auto o = options("nan", 1, 3);
  o.lr = 1e30;
  auto msg = error_of(o);
  EXPECT_TRUE(has(msg, "the loss is")) << msg;
  EXPECT_TRUE(has(msg, "lower --lr")) << msg;
  EXPECT_FALSE(fs::exists(o.out));
  o.lr = -1;
  EXPECT_TRUE(has(error_of(o), "--lr must be a finite number > 0")) << error_of(o);
  o.lr = 0;
  o.threads = 100000;  // item 6
  EXPECT_TRUE(has(error_of(o), "--threads 100000: use 1 to")) << error_of(o);
}

// Items 3 and 9: resuming checks the checkpoint: steps already done, other settings, overwritten
// bytes and swapped rank files are each a clear error saying what differs.
TEST(Hardening, ResumeVerifiesTheCheckpoint) {
  auto o = options("ckpt", 2, 2);
  o.ckpt_dir = (tmp_dir() / "ckpt" / "ckpt").string();
  o.ckpt_interval = 2;
  run(o);
  const auto step_dir = fs::path(o.ckpt_dir) / "step_00000002";
  ASSERT_TRUE(fs::exists(step_dir / "manifest.json"));

  // Item 3: the same command again (--steps 2, checkpoint at step 2): was a segfault.
  o.resume = true;
  auto msg = error_of(o);
  EXPECT_TRUE(has(msg, "nothing is left to train; raise --steps above 2")) << msg;

  // Without --resume an existing checkpoint would be overwritten.
  auto fresh = o;
  fresh.resume = false;
  EXPECT_TRUE(has(error_of(fresh), "pass --resume")) << error_of(fresh);

  auto copy = [&](const std::string& name) {
    auto c = o;
    c.steps = 3;
    c.ckpt_dir = (tmp_dir() / "ckpt" / name).string();
    fs::remove_all(c.ckpt_dir);
    fs::copy(o.ckpt_dir, c.ckpt_dir, fs::copy_options::recursive);
    c.out = (tmp_dir() / "ckpt" / (name + ".json")).string();
    return c;
  };
  // Another learning rate, sequence length and seed: each difference is named.
  auto other = copy("other");
  other.lr = 2e-3;
  other.seed = 7;
  auto p = small_plan(2);
  p.training.seq_len = 8;
  other.plan = to_json(p).dump();
  msg = error_of(other);
  EXPECT_TRUE(has(msg, "learning_rate: checkpoint 0.001, this run 0.002")) << msg;
  EXPECT_TRUE(has(msg, "train.seq_len: checkpoint 16, this run 8")) << msg;
  EXPECT_TRUE(has(msg, "seed: checkpoint 1337, this run 7")) << msg;

  // Overwritten bytes.
  auto damaged = copy("damaged");
  {
    auto f = fs::path(damaged.ckpt_dir) / "step_00000002" / "rank_1.pt";
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(std::streamoff(fs::file_size(f) / 2));
    io.write("XXXXXXXX", 8);
  }
  msg = error_of(damaged);
  EXPECT_TRUE(has(msg, "rank_1.pt does not match its checksum")) << msg;

  // Swapped rank files.
  auto swapped = copy("swapped");
  {
    auto d = fs::path(swapped.ckpt_dir) / "step_00000002";
    fs::rename(d / "rank_0.pt", d / "tmp.pt");
    fs::rename(d / "rank_1.pt", d / "rank_0.pt");
    fs::rename(d / "tmp.pt", d / "rank_1.pt");
  }
  msg = error_of(swapped);
  EXPECT_TRUE(has(msg, "rank_0.pt does not match its checksum")) << msg;

  // The untouched copy resumes and trains step 2.
  auto good = copy("good");
  auto m = run(good);
  EXPECT_EQ(m["first_step"], 2);
  EXPECT_EQ(m["loss"].size(), 1u);
}

// Item 7: a full disk while checkpointing is an environment failure naming the file and the
// cause, and leaves no temporary file (before: an uncaught c10::Error on both ranks, .tmp left).
TEST(Hardening, FullDiskWhileCheckpointingIsAnEnvironmentError) {
  auto o = options("full", 2, 2);
  o.ckpt_dir = (tmp_dir() / "full" / "ckpt").string();
  o.ckpt_interval = 1;
  o.timeout_s = 10;
  ::setenv("PARPLAN_FAULT_FSIZE", "0:4096", 1);  // rank 0 can write 4 KiB per file
  try {
    run(o);
    ADD_FAILURE() << "the run should fail";
  } catch (const EnvironmentError& e) {
    EXPECT_TRUE(has(e.what(), "rank_0.pt' failed: File too large")) << e.what();
  } catch (const Error& e) {
    ADD_FAILURE() << "a full disk is an environment failure (exit 3), got: " << e.what();
  }
  ::unsetenv("PARPLAN_FAULT_FSIZE");
  for (auto& f : fs::recursive_directory_iterator(o.ckpt_dir))
    EXPECT_FALSE(has(f.path().filename().string(), ".tmp")) << f.path();
}
