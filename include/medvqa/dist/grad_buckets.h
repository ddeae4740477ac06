// Gradient all-reduce for data parallelism, overlapped with backward as torch DDP does it: the
// trainable parameters are packed, in reverse order (the order backward finishes them), into flat
// buckets, and in the backward of an optimizer step's last micro-batch each bucket starts summing
// across ranks as soon as all its gradients have accumulated. The trainer's loss is already divided
// by the global label-token count, so a sum (not a mean) is the gradient of the global batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "medvqa/dist/process_group.h"

namespace medvqa {

class GradBuckets {
 public:
  // Buckets of about `bucket_mb` MiB, the first (filled first in backward) of at most 1 MiB so that
  // communication starts early. With a distributed `pg` a post-accumulate-grad hook goes on every
  // parameter (removed by the destructor); `pg` must outlive this object.
  GradBuckets(ProcessGroup& pg, std::vector<at::Tensor> params, double bucket_mb);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  // Call right before the backward that completes the step's gradients (earlier micro-batches only
  // accumulate): during it, a gradient is final once accumulated, and a bucket whose gradients are
  // all final starts its all-reduce. Buckets start strictly in index order (bucket i waits for
  // buckets < i), so every rank issues the same collectives in the same order whatever order its
  // gradients arrive in.
  void arm();
  // After that backward, or without one on a rank whose last micro-batch was empty: starts the
  // buckets that did not start (a parameter without a gradient on this rank counts as zero), waits
  // for all, and writes the sums into .grad. No-op without a distributed group.
  void finish();

  size_t buckets() const { return buckets_.size(); }
  size_t started() const;  // buckets whose all-reduce has started since arm()
  // Time finish() spent on communication that backward did not hide (starting the late buckets,
  // waiting for all), summed over steps.
  double exposed_comm_seconds() const { return exposed_comm_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    at::Tensor flat;
    size_t pending = 0;  // gradients not final yet
  };
  struct Hook;

  void on_grad_accumulated(size_t param);
  void pack(size_t param);
  void start_ready_buckets();  // caller holds mutex_

  ProcessGroup& pg_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, int64_t>> slot_;  // per parameter: bucket and offset in its flat tensor
  std::vector<bool> final_;                       // per parameter, since arm()
  mutable std::mutex mutex_;                      // hooks may run on autograd's device threads
  bool armed_ = false;
  size_t next_ = 0;  // the next bucket to start
  double exposed_comm_seconds_ = 0;
};

// Copies rank `root`'s values of `params` to every rank (the start of a data-parallel run).
void broadcast_parameters(ProcessGroup& pg, const std::vector<at::Tensor>& params, int root = 0);
// Fails unless every rank holds exactly rank 0's values (the invariant data parallelism keeps).
void check_parameters_in_sync(ProcessGroup& pg, const std::vector<std::pair<std::string, at::Tensor>>& params);

}  // namespace medvqa
