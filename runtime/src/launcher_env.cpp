// Rank discovery from launcher environment variables, and local spawning (fork + exec).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
  return r;
}

void spawn_local(const std::string& exe, const std::vector<std::string>& args, int nproc, int port,
                 const std::map<std::string, std::string>& env, double grace_s,
                 const std::string& error_dir) {
  namespace fs = std::filesystem;
  fs::create_directories(error_dir);
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
    full["MASTER_PORT"] = std::to_string(port);
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
    if (pid < 0) throw Error("cannot start rank " + std::to_string(r) + ": fork failed");
    if (pid == 0) {
      execve(exe.c_str(), cargv.data(), cenv.data());
      _exit(127);
    }
    pids[size_t(r)] = pid;
  }
  std::vector<int> status(size_t(nproc), 0);
  std::vector<bool> done(size_t(nproc), false);
  int remaining = nproc;
  bool failed = false;
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
    if (failed && std::chrono::duration<double>(std::chrono::steady_clock::now() - fail_time).count() > grace_s) {
      for (int r = 0; r < nproc; ++r)
        if (!done[size_t(r)]) kill(pids[size_t(r)], SIGKILL);
      failed = true;
      grace_s = 1e9;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!failed) return;
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
  throw Error(msg.str());
}

}  // namespace parplan::runtime
