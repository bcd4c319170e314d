// Rank discovery from launcher environment variables, and local spawning (fork + exec).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "parplan/model/error.hpp"
#include "parplan/runtime/launcher.hpp"

extern char** environ;

namespace parplan::runtime {

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

namespace {

int to_int(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  if (it == env.end()) throw Error("launcher environment: " + key + " is not set");
  try {
    size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("junk");
    return v;
  } catch (const std::exception&) {
    throw Error("launcher environment: " + key + "='" + it->second + "' is not an integer");
  }
}

}  // namespace

std::optional<RankEnv> detect_rank_env(const std::map<std::string, std::string>& env) {
  auto has = [&](const char* k) { return env.count(k) > 0; };
  RankEnv r;
  bool need_master = true;
  if (has("RANK") && has("WORLD_SIZE")) {
    r.rank = to_int(env, "RANK");
    r.world_size = to_int(env, "WORLD_SIZE");
    r.local_rank = has("LOCAL_RANK") ? to_int(env, "LOCAL_RANK") : r.rank;
    r.local_world_size = has("LOCAL_WORLD_SIZE") ? to_int(env, "LOCAL_WORLD_SIZE") : r.world_size;
    r.source = "torchrun";
  } else if (has("OMPI_COMM_WORLD_RANK")) {
    r.rank = to_int(env, "OMPI_COMM_WORLD_RANK");
    r.world_size = to_int(env, "OMPI_COMM_WORLD_SIZE");
    r.local_rank = has("OMPI_COMM_WORLD_LOCAL_RANK") ? to_int(env, "OMPI_COMM_WORLD_LOCAL_RANK") : 0;
    r.local_world_size =
        has("OMPI_COMM_WORLD_LOCAL_SIZE") ? to_int(env, "OMPI_COMM_WORLD_LOCAL_SIZE") : 1;
    r.source = "mpiexec (OMPI)";
  } else if (has("PALS_RANKID")) {
    r.rank = to_int(env, "PALS_RANKID");
    r.world_size = has("PMI_SIZE") ? to_int(env, "PMI_SIZE") : to_int(env, "PALS_SIZE");
    r.local_rank = has("PALS_LOCAL_RANKID") ? to_int(env, "PALS_LOCAL_RANKID") : 0;
    r.local_world_size = has("PALS_LOCAL_SIZE") ? to_int(env, "PALS_LOCAL_SIZE") : 1;
    r.source = "mpiexec (PALS)";
  } else if (has("PMI_RANK")) {
    r.rank = to_int(env, "PMI_RANK");
    r.world_size = to_int(env, "PMI_SIZE");
    r.local_rank = has("MPI_LOCALRANKID") ? to_int(env, "MPI_LOCALRANKID") : 0;
    r.local_world_size = has("MPI_LOCALNRANKS") ? to_int(env, "MPI_LOCALNRANKS") : 1;
    r.source = "mpiexec (PMI)";
  } else if (has("SLURM_PROCID") && has("SLURM_NTASKS")) {
    r.rank = to_int(env, "SLURM_PROCID");
    r.world_size = to_int(env, "SLURM_NTASKS");
    r.local_rank = has("SLURM_LOCALID") ? to_int(env, "SLURM_LOCALID") : 0;
    r.local_world_size =
        has("SLURM_NTASKS_PER_NODE") ? to_int(env, "SLURM_NTASKS_PER_NODE") : 1;
    r.source = "srun";
  } else {
    return std::nullopt;
  }
  if (r.world_size < 1 || r.rank < 0 || r.rank >= r.world_size)
    throw Error(r.source + " environment: rank " + std::to_string(r.rank) +
                " is outside world size " + std::to_string(r.world_size));
  if (!has("MASTER_ADDR") && need_master) {
    if (r.world_size == 1) {
      r.master_addr = "127.0.0.1";
    } else {
      throw Error(r.source + " environment: MASTER_ADDR (host of rank 0) is not set; export it, "
                  "e.g. MASTER_ADDR=$(hostname) on the first node");
    }
  } else if (has("MASTER_ADDR")) {
    r.master_addr = env.at("MASTER_ADDR");
  }
  r.master_port = has("MASTER_PORT") ? to_int(env, "MASTER_PORT") : 29500;
  if (r.master_port < 1 || r.master_port > 65535)
    throw Error(r.source + " environment: MASTER_PORT=" + std::to_string(r.master_port) +
                " is not a TCP port; use 1..65535 (e.g. 29500)");
  if (r.master_addr.empty() || r.master_addr.size() > 253)
    throw Error(r.source + " environment: MASTER_ADDR='" + brief(r.master_addr) +
                "' is not a host name or address");
  return r;
}

std::string random_secret() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw EnvironmentError(std::string("getrandom failed: ") + std::strerror(errno));
    got += size_t(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
  return s;
}

LocalRendezvous::LocalRendezvous() : secret_(random_secret()) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "parplan-run-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))  // mode 0700: no other user can read or write the store
    throw EnvironmentError("cannot create a private temporary directory in " +
                           std::filesystem::temp_directory_path().string() + ": " +
                           std::strerror(errno) + "; set TMPDIR to a writable directory");
  dir_ = tmpl;
}

LocalRendezvous::~LocalRendezvous() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);  // created by mkdtemp above: only our files are in it
}

std::map<std::string, std::string> LocalRendezvous::env(std::map<std::string, std::string> extra) const {
  extra["PARPLAN_STORE_FILE"] = dir_ + "/store";
  extra["PARPLAN_RUN_SECRET"] = secret_;
  return extra;
}

namespace {
volatile sig_atomic_t g_forward_signal = 0;
void on_stop_signal(int sig) { g_forward_signal = sig; }

// Installs SIGINT/SIGTERM handlers for the lifetime of the launcher's wait loop.
struct ForwardSignals {
  struct sigaction old_int {}, old_term {};
  ForwardSignals() {
    g_forward_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~ForwardSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};
}  // namespace

void spawn_local(const std::string& exe, const std::vector<std::string>& args, int nproc, int port,
                 const std::map<std::string, std::string>& env, double grace_s,
                 const std::string& error_dir) {
  namespace fs = std::filesystem;
  std::error_code mk;
  fs::create_directories(error_dir, mk);
  if (mk) throw EnvironmentError("cannot create '" + error_dir + "': " + mk.message());
  ForwardSignals forward;
  const pid_t launcher = getpid();
  std::vector<pid_t> pids(size_t(nproc), -1);
  std::vector<std::string> error_files;
  for (int r = 0; r < nproc; ++r) {
    auto ef = (fs::path(error_dir) / ("rank" + std::to_string(r) + ".err")).string();
    fs::remove(ef);
    error_files.push_back(ef);
    auto full = current_environment();
    for (auto& [k, v] : env) full[k] = v;
    for (const char* k : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PALS_RANKID", "SLURM_PROCID"})
      full.erase(k);
    full["RANK"] = std::to_string(r);
    full["WORLD_SIZE"] = std::to_string(nproc);
    full["LOCAL_RANK"] = std::to_string(r);
    full["LOCAL_WORLD_SIZE"] = std::to_string(nproc);
    full["MASTER_ADDR"] = "127.0.0.1";
    if (port > 0)
      full["MASTER_PORT"] = std::to_string(port);
    else
      full.erase("MASTER_PORT");
    full["PARPLAN_ERROR_FILE"] = ef;
    std::vector<std::string> envs, argv{exe};
    for (auto& [k, v] : full) envs.push_back(k + "=" + v);
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      for (int k = 0; k < r; ++k) kill(pids[size_t(k)], SIGKILL);
      throw EnvironmentError("cannot start rank " + std::to_string(r) + ": fork failed: " +
                             std::strerror(errno));
    }
    if (pid == 0) {
      // The rank dies with the launcher, even when the launcher is SIGKILLed.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != launcher) _exit(126);  // the launcher died before prctl
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigaction(SIGINT, &dfl, nullptr);
      sigaction(SIGTERM, &dfl, nullptr);
      execve(exe.c_str(), cargv.data(), cenv.data());
      _exit(127);
    }
    pids[size_t(r)] = pid;
  }
  std::vector<int> status(size_t(nproc), 0);
  std::vector<bool> done(size_t(nproc), false);
  int remaining = nproc;
  bool failed = false;
  int interrupted = 0;
  auto fail_time = std::chrono::steady_clock::now();
  while (remaining > 0) {
    int st = 0;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r)
        if (pids[size_t(r)] == pid) {
          status[size_t(r)] = st;
          done[size_t(r)] = true;
          --remaining;
          if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !failed) {
            failed = true;
            fail_time = std::chrono::steady_clock::now();
          }
        }
      continue;
    }
    if (pid < 0) break;
    if (int sig = g_forward_signal; sig != 0 && !interrupted) {
      interrupted = sig;
      for (int r = 0; r < nproc; ++r)
        if (!done[size_t(r)]) kill(pids[size_t(r)], sig);
      failed = true;
      fail_time = std::chrono::steady_clock::now();
      grace_s = std::min(grace_s, 5.0);  // then SIGKILL
    }
    if (failed && std::chrono::duration<double>(std::chrono::steady_clock::now() - fail_time).count() > grace_s) {
      for (int r = 0; r < nproc; ++r)
        if (!done[size_t(r)]) kill(pids[size_t(r)], SIGKILL);
      failed = true;
      grace_s = 1e9;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (interrupted)
    throw Interrupted(std::string("interrupted by ") + (interrupted == SIGINT ? "SIGINT" : "SIGTERM") +
                          ": the signal was forwarded to the " + std::to_string(nproc) +
                          " local ranks and they were stopped",
                      interrupted);
  if (!failed) return;
  bool environment = false;  // any rank killed, crashed or reporting an environment failure
  for (int r = 0; r < nproc; ++r) {
    int st = status[size_t(r)];
    if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2))
      environment = true;
  }
  std::ostringstream msg;
  msg << "the run failed on " << nproc << " local ranks:";
  for (int r = 0; r < nproc; ++r) {
    int st = status[size_t(r)];
    std::string text;
    std::ifstream f(error_files[size_t(r)]);
    std::getline(f, text, '\0');
    while (!text.empty() && text.back() == '\n') text.pop_back();
    msg << "\n  rank " << r << ": ";
    if (WIFSIGNALED(st))
      msg << "killed by signal " << WTERMSIG(st) << (text.empty() ? "" : " (" + text + ")");
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
      msg << "ok";
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && text.empty())
      msg << "could not execute " << exe;
    else
    {
      // Worker messages start with their own "rank N: "; do not repeat it.
      auto own = "rank " + std::to_string(r) + ": ";
      if (text.rfind(own, 0) == 0) text = text.substr(own.size());
      msg << (text.empty() ? "exited with code " + std::to_string(WEXITSTATUS(st)) : text);
    }
  }
  if (environment) throw EnvironmentError(msg.str());
  throw Error(msg.str());
}

}  // namespace parplan::runtime
