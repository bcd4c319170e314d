#pragma once
// Where a rank comes from: spawned locally by `parplan run --nproc N`, or started by a cluster
// launcher (torchrun, mpiexec, srun) whose environment variables name the rank. Torch-free.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace parplan::runtime {

struct RankEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  std::string source;  // "torchrun", "mpiexec (OMPI)", "mpiexec (PMI)", "mpiexec (PALS)", "srun"
};

// Reads torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), Open MPI
// (OMPI_COMM_WORLD_*), MPICH/Cray (PMI_RANK, PMI_SIZE, PALS_RANKID, PALS_LOCAL_RANKID) and Slurm
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) variables; nullopt when none is set.
// Throws parplan::Error when they are inconsistent or MASTER_ADDR is missing under MPI/Slurm.
std::optional<RankEnv> detect_rank_env(const std::map<std::string, std::string>& env);
std::map<std::string, std::string> current_environment();

// The rendezvous of locally spawned ranks: a private directory (mode 0700, removed with this
// object) holding their c10d FileStore and error files, and a random per-run secret that
// prefixes every store key. No socket listens for it; the ranks' Gloo pairs bind 127.0.0.1.
class LocalRendezvous {
 public:
  LocalRendezvous();  // throws parplan::EnvironmentError when the temp dir cannot be created
  ~LocalRendezvous();
  LocalRendezvous(const LocalRendezvous&) = delete;
  LocalRendezvous& operator=(const LocalRendezvous&) = delete;
  const std::string& dir() const { return dir_; }
  // `extra` plus PARPLAN_STORE_FILE and PARPLAN_RUN_SECRET, for spawn_local.
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra) const;

 private:
  std::string dir_, secret_;
};

// A fresh random secret (32 hex digits from getrandom).
std::string random_secret();

// Spawns `nproc` processes `exe args...`, each with `env` plus RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT=port (when port > 0) and
// PARPLAN_ERROR_FILE, waits for all. The ranks die with the launcher (PR_SET_PDEATHSIG), and
// SIGINT/SIGTERM sent to the launcher are forwarded to them (then parplan::Interrupted). When one
// fails the others get `grace_s` to fail on their own (they see the dead peer) before they are
// killed. Throws parplan::Error naming each failed rank and its message when every failed rank
// reported bad input (exit 2); parplan::EnvironmentError when a rank was killed, hit an
// environment failure (exit 3) or crashed.
void spawn_local(const std::string& exe, const std::vector<std::string>& args, int nproc, int port,
                 const std::map<std::string, std::string>& env, double grace_s,
                 const std::string& error_dir);

}  // namespace parplan::runtime
