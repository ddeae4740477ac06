#include "medvqa/dist/rank.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {

RankPlan plan_rank(const DistEnv& env, const std::string& device, int64_t threads, int visible_gpus, int cores) {
  RankPlan plan;
  plan.env = env;
  const int per_node = std::max(1, env.local_world_size);
  if (threads > 0) {
    plan.threads = static_cast<int>(threads);
    plan.why = std::to_string(threads) + " intra-op threads (model.threads)";
  } else {
    plan.threads = std::max(1, cores / per_node);
    plan.why = std::to_string(plan.threads) + " intra-op threads (" + std::to_string(cores) + " cores / " +
               std::to_string(per_node) + " rank(s) on this node)";
  }
  const bool want_cuda = device == "cuda" || (device == "auto" && visible_gpus > 0);
  if (!want_cuda) {
    plan.device = device == "auto" ? "cpu" : device;  // cpu, or cuda:N (checked below) or a typo parse_device names
    if (device.rfind("cuda:", 0) == 0) {
      MEDVQA_CHECK(per_node == 1, "model.device: ", device, " would put all ", per_node,
                   " ranks of this node on one GPU; set model.device=cuda and each rank takes cuda:(LOCAL_RANK mod ",
                   "visible GPUs)");
      plan.why = device + " (model.device), " + plan.why;
    }
    return plan;
  }
  MEDVQA_CHECK(visible_gpus > 0, "model.device: ", device, " requested but no GPU is visible here",
               std::getenv("CUDA_VISIBLE_DEVICES") ? " (CUDA_VISIBLE_DEVICES='" + std::string(std::getenv("CUDA_VISIBLE_DEVICES")) + "')"
                                                   : "");
  MEDVQA_CHECK(visible_gpus == 1 || per_node <= visible_gpus, "dist: ", per_node, " ranks on this node but ", visible_gpus,
               " visible GPUs: NCCL needs one GPU per rank (start at most ", visible_gpus,
               " ranks per node, or give each rank one GPU, e.g. srun --gpus-per-task=1)");
  const int index = env.local_rank % visible_gpus;
  plan.device = "cuda:" + std::to_string(index);
  plan.why = plan.device + (visible_gpus == 1 ? " (the one GPU this rank sees)"
                                              : " (LOCAL_RANK " + std::to_string(env.local_rank) + " mod " +
                                                    std::to_string(visible_gpus) + " visible GPUs)") +
             ", " + plan.why;
  return plan;
}

RankContext start_rank(const std::string& device, int64_t threads, std::chrono::seconds timeout) {
  RankContext rank;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  rank.plan = plan_rank(read_dist_env(), device, threads, gpus,
                        static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const c10::Device d = parse_device(rank.plan.device);
  // Pinned before anything touches the GPU, so that work on "the current device" (NCCL's streams,
  // cuBLAS handles, caching allocator) lands on this rank's GPU rather than GPU 0.
  if (d.is_cuda()) c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(d);
  set_threads(rank.plan.threads);
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  // Every rank says where it runs (before the log keeps rank 0's info lines only).
  log_info("dist: rank ", rank.plan.env.rank, ": ", rank.plan.why,
           visible && d.is_cuda() ? ", CUDA_VISIBLE_DEVICES='" + std::string(visible) + "'" : "");
  set_log_rank(rank.plan.env.rank);
  rank.pg = std::make_unique<ProcessGroup>(rank.plan.env, d, timeout);
  return rank;
}

}  // namespace medvqa
