// The start of every rank (train, eval): which device and how many intra-op threads it takes,
// decided as a pure function of the launcher's environment, then applied: the GPU pinned as the
// current device, the threads set, the log prefixed, the process group connected.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "medvqa/dist/env.h"
#include "medvqa/dist/process_group.h"

namespace medvqa {

struct RankPlan {
  DistEnv env;
  std::string device;  // "cpu" or "cuda:N"
  std::string why;     // how the device and threads were chosen, for the log
  int threads = 1;
};

// `device` as configured (cpu, auto, cuda, cuda:N); `threads` <= 0 shares `cores` among the ranks of
// this node. "cuda" and "auto" take cuda:(LOCAL_RANK mod visible GPUs): one GPU per rank when each
// sees all of the node's, the one it sees under `srun --gpus-per-task=1` or CUDA_VISIBLE_DEVICES.
// An explicit cuda:N is kept for one rank per node and refused for several (they would share it).
RankPlan plan_rank(const DistEnv& env, const std::string& device, int64_t threads, int visible_gpus, int cores);

struct RankContext {
  RankPlan plan;
  std::unique_ptr<ProcessGroup> pg;
};

// plan_rank on this process's environment, GPUs and cores; then pins the GPU, sets the threads and
// the log rank and connects the group (none without a launcher).
RankContext start_rank(const std::string& device, int64_t threads, std::chrono::seconds timeout);

}  // namespace medvqa
