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

// Spawns `nproc` processes `exe args...`, each with `env` plus RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT=port and PARPLAN_ERROR_FILE, waits for all.
// When one fails the others get `grace_s` to fail on their own (they see the dead peer) before
// they are killed. Throws parplan::Error naming each failed rank and its message.
void spawn_local(const std::string& exe, const std::vector<std::string>& args, int nproc, int port,
                 const std::map<std::string, std::string>& env, double grace_s,
                 const std::string& error_dir);

}  // namespace parplan::runtime
