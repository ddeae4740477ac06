// Gradient all-reduce for data parallelism: the trainable parameters' gradients packed into flat
// buckets of about `bucket_mb`, each summed across ranks as one collective (all started, then all
// awaited), and unpacked. Runs after backward: the trainer's loss is already divided by the global
// label-token count, so a sum (not a mean) is the gradient of the global batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "medvqa/dist/process_group.h"

namespace medvqa {

class GradBuckets {
 public:
  GradBuckets(std::vector<at::Tensor> params, double bucket_mb);
  // Sums every gradient across the ranks of `pg`; a parameter without a gradient on this rank (no
  // sample in its micro-batches) counts as zero. No-op at world size 1.
  void all_reduce(ProcessGroup& pg);
  size_t buckets() const { return buckets_.size(); }
  double comm_seconds() const { return comm_seconds_; }  // time inside the collectives, summed

 private:
  std::vector<at::Tensor> params_;
  std::vector<std::pair<size_t, size_t>> buckets_;  // [begin, end) into params_
  double comm_seconds_ = 0;
};

// Copies rank `root`'s values of `params` to every rank (the start of a data-parallel run).
void broadcast_parameters(ProcessGroup& pg, const std::vector<at::Tensor>& params, int root = 0);
// Fails unless every rank holds exactly rank 0's values (the invariant data parallelism keeps).
void check_parameters_in_sync(ProcessGroup& pg, const std::vector<std::pair<std::string, at::Tensor>>& params);

}  // namespace medvqa
