#include "parplan/runtime/launcher.hpp"

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"

using namespace parplan;
using namespace parplan::runtime;

TEST(LauncherEnv, NoLauncherVariablesMeansLocalSpawn) {
  EXPECT_FALSE(detect_rank_env({{"HOME", "/root"}}).has_value());
}

TEST(LauncherEnv, ReadsTorchrunVariables) {
  auto e = detect_rank_env({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"},
                            {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "1234"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rank, 3);
  EXPECT_EQ(e->world_size, 8);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->master_addr, "node0");
  EXPECT_EQ(e->master_port, 1234);
}

TEST(LauncherEnv, ReadsOpenMpiPalsAndSlurmVariables) {
  auto o = detect_rank_env({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "6"},
                            {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"MASTER_ADDR", "h"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->rank, 5);
  EXPECT_EQ(o->world_size, 6);
  auto p = detect_rank_env({{"PALS_RANKID", "2"}, {"PMI_SIZE", "4"}, {"PALS_LOCAL_RANKID", "2"},
                            {"MASTER_ADDR", "h"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rank, 2);
  EXPECT_EQ(p->world_size, 4);
  EXPECT_EQ(p->source, "mpiexec (PALS)");
  auto s = detect_rank_env({{"SLURM_PROCID", "7"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "3"},
                            {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29400"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->rank, 7);
  EXPECT_EQ(s->local_rank, 3);
  EXPECT_EQ(s->master_port, 29400);
}

TEST(LauncherEnv, MissingMasterAddressOrBadRankIsAClearError) {
  EXPECT_THROW(detect_rank_env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}), Error);
  EXPECT_THROW(detect_rank_env({{"RANK", "4"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}), Error);
  EXPECT_THROW(detect_rank_env({{"RANK", "x"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}), Error);
}
