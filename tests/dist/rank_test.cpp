// Each rank's device and threads as a pure function of the launcher's environment: one process,
// torchrun with all GPUs visible, srun with one GPU per task, CUDA_VISIBLE_DEVICES, several ranks
// sharing a node's cores.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "medvqa/dist/rank.h"

using namespace medvqa;

namespace {

DistEnv ranks(int rank, int world, int local_rank, int local_world, const char* source = "torchrun") {
  DistEnv env;
  env.rank = rank;
  env.world_size = world;
  env.local_rank = local_rank;
  env.local_world_size = local_world;
  env.source = source;
  return env;
}

}  // namespace

// The old rank_device kept "cuda" (index -1) for world size 1, and the NCCL barrier then got
// device -1 after the last step.
TEST(RankPlan, OneProcessOnCudaGetsAnIndexedDevice) {
  EXPECT_EQ(plan_rank(DistEnv{}, "cuda", 0, 1, 16).device, "cuda:0");
  EXPECT_EQ(plan_rank(ranks(0, 1, 0, 1), "cuda", 0, 8, 16).device, "cuda:0");  // torchrun --nproc-per-node 1
  EXPECT_EQ(plan_rank(DistEnv{}, "auto", 0, 2, 16).device, "cuda:0");
  EXPECT_EQ(plan_rank(DistEnv{}, "auto", 0, 0, 16).device, "cpu");
  EXPECT_EQ(plan_rank(DistEnv{}, "cuda:3", 0, 4, 16).device, "cuda:3");
}

TEST(RankPlan, AllGpusVisibleTakeTheLocalRank) {
  RankPlan p = plan_rank(ranks(5, 8, 1, 4), "cuda", 0, 4, 16);
  EXPECT_EQ(p.device, "cuda:1");
  EXPECT_NE(p.why.find("LOCAL_RANK 1 mod 4 visible GPUs"), std::string::npos) << p.why;
}

// srun --gpus-per-task=1 (or CUDA_VISIBLE_DEVICES set per rank): each task sees one GPU, whatever its
// SLURM_LOCALID. The old code gave cuda:SLURM_LOCALID, a device that does not exist there.
TEST(RankPlan, OneVisibleGpuPerTaskIsDeviceZero) {
  for (int local = 0; local < 4; ++local) {
    RankPlan p = plan_rank(ranks(local, 4, local, 4, "slurm"), "cuda", 0, 1, 16);
    EXPECT_EQ(p.device, "cuda:0") << "SLURM_LOCALID " << local;
    EXPECT_NE(p.why.find("the one GPU this rank sees"), std::string::npos) << p.why;
  }
}

TEST(RankPlan, RanksThatWouldShareAGpuAreRefused) {
  EXPECT_NE(test_util::error_message([] { plan_rank(ranks(0, 4, 0, 4), "cuda", 0, 2, 16); })
                .find("4 ranks on this node but 2 visible GPUs: NCCL needs one GPU per rank"),
            std::string::npos);
  EXPECT_NE(test_util::error_message([] { plan_rank(ranks(1, 2, 1, 2), "cuda:0", 0, 2, 16); })
                .find("model.device: cuda:0 would put all 2 ranks of this node on one GPU"),
            std::string::npos);
  EXPECT_EQ(plan_rank(ranks(1, 2, 0, 1), "cuda:1", 0, 2, 16).device, "cuda:1");  // one rank per node may choose
  EXPECT_NE(test_util::error_message([] { plan_rank(DistEnv{}, "cuda", 0, 0, 16); }).find("no GPU is visible"),
            std::string::npos);
}

// Each rank took every core before, so N ranks on a node oversubscribed it N times.
TEST(RankPlan, ThreadsShareTheNodesCoresUnlessConfigured) {
  EXPECT_EQ(plan_rank(DistEnv{}, "cpu", 0, 0, 16).threads, 16);
  RankPlan p = plan_rank(ranks(0, 8, 0, 4), "cpu", 0, 0, 16);
  EXPECT_EQ(p.threads, 4);
  EXPECT_NE(p.why.find("4 intra-op threads (16 cores / 4 rank(s) on this node)"), std::string::npos) << p.why;
  EXPECT_EQ(plan_rank(ranks(0, 8, 0, 4), "cpu", 0, 0, 2).threads, 1);
  EXPECT_EQ(plan_rank(ranks(0, 8, 0, 4), "cpu", 6, 0, 16).threads, 6);
  EXPECT_EQ(plan_rank(ranks(0, 2, 0, 2), "cuda", 0, 2, 16).threads, 8);
}
