#include "medvqa/dist/grad_buckets.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

at::Tensor flatten(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

void unflatten_into(const at::Tensor& flat, const std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (const auto& t : tensors) {
    t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
    offset += t.numel();
  }
}

}  // namespace

GradBuckets::GradBuckets(std::vector<at::Tensor> params, double bucket_mb) : params_(std::move(params)) {
  const double cap = bucket_mb * 1024 * 1024;
  size_t begin = 0;
  double bytes = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    // A bucket is one flat tensor: it cannot mix dtypes or devices.
    bool breaks = i > begin && (params_[i].scalar_type() != params_[begin].scalar_type() ||
                                params_[i].device() != params_[begin].device() || bytes >= cap);
    if (breaks) {
      buckets_.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += static_cast<double>(params_[i].numel() * params_[i].element_size());
  }
  if (begin < params_.size()) buckets_.emplace_back(begin, params_.size());
}

void GradBuckets::all_reduce(ProcessGroup& pg) {
  if (!pg.distributed()) return;
  std::vector<std::vector<at::Tensor>> grads(buckets_.size());
  std::vector<at::Tensor> flats;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t i = buckets_[b].first; i < buckets_[b].second; ++i) {
      at::Tensor& p = params_[i];
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads[b].push_back(p.grad());
    }
    flats.push_back(flatten(grads[b]));
  }
  auto t0 = std::chrono::steady_clock::now();
  pg.all_reduce_sum(flats);
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t b = 0; b < buckets_.size(); ++b) unflatten_into(flats[b], grads[b]);
}

void broadcast_parameters(ProcessGroup& pg, const std::vector<at::Tensor>& params, int root) {
  if (!pg.distributed() || params.empty()) return;
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> flat{flatten(params)};
  pg.broadcast(flat, root);
  unflatten_into(flat[0], params);
}

void check_parameters_in_sync(ProcessGroup& pg, const std::vector<std::pair<std::string, at::Tensor>>& params) {
  if (!pg.distributed()) return;
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> mine, theirs;
  for (const auto& [name, p] : params) {
    mine.push_back(p.detach());
    theirs.push_back(p.detach().clone());
  }
  broadcast_parameters(pg, theirs, 0);
  std::string first;
  double max_diff = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    double d = (mine[i].to(at::kDouble) - theirs[i].to(at::kDouble)).abs().max().item<double>();
    if (d > 0 && first.empty()) first = params[i].first;
    max_diff = std::max(max_diff, d);
  }
  // Every rank learns whether any rank differs, so all of them stop together.
  MEDVQA_CHECK(pg.sum_values({max_diff})[0] == 0, "dist: trainable weights diverged across ranks", first.empty() ? "" : " (rank " +
               std::to_string(pg.rank()) + ": '" + first + "' differs from rank 0's by up to " + std::to_string(max_diff) + ")",
               "; this is a bug, please report it");
}

}  // namespace medvqa
