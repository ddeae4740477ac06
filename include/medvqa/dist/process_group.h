// The c10d process group of a data-parallel job: a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT,
// then ProcessGroupNCCL for CUDA tensors and ProcessGroupGloo for host values (and for every
// tensor on the CPU), with a collective timeout. Without a
// launcher there is no group and every collective is the identity. A failed collective becomes an
// error naming the ranks that no longer answer. Gradient buckets live in grad_buckets.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "medvqa/dist/env.h"

namespace medvqa {

class ProcessGroup {
 public:
  // `device`: the rank's own (cuda:N for NCCL, with its index), from plan_rank (rank.h).
  ProcessGroup(const DistEnv& env, const c10::Device& device, std::chrono::seconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  // A launcher started this process (even with world size 1, as torch does): collectives go
  // through the group.
  bool distributed() const { return !env_.source.empty(); }
  const char* backend_name() const;  // of device tensors: "nccl", "gloo" or "none"

  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Sums each tensor across ranks in place: all collectives are started, then all are awaited, so
  // Gloo's worker threads pipeline them.
  void all_reduce_sum(std::vector<at::Tensor>& tensors);
  // Starts summing `tensor` across ranks in place and returns at once (callable from autograd's
  // threads); wait_started() returns when every collective started so far is done. Collectives
  // pair up across ranks by the order they are started in, which must be the same on every rank.
  void start_all_reduce_sum(const at::Tensor& tensor);
  void wait_started();
  // Host collectives, through Gloo whatever the device (they never wait for a GPU's queue):
  // values summed across ranks (counts, flags) in one collective; a tensor's values from every rank
  // ([rank 0's, rank 1's, ...], on the CPU); a barrier.
  std::vector<double> sum_values(std::vector<double> values);
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor);
  void barrier();

 private:
  struct Impl;
  [[noreturn]] void fail(const char* what, const std::exception& e);

  DistEnv env_;
  std::chrono::seconds timeout_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medvqa
