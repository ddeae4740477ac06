#include "medvqa/dist/grad_buckets.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <chrono>

#include "medvqa/core/clock.h"
#include "medvqa/core/error.h"

namespace medvqa {
namespace {

// torch DDP's first bucket: small, so that the first collective starts early in backward.
constexpr double kFirstBucketMb = 1;


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

struct GradBuckets::Hook final : torch::autograd::PostAccumulateGradHook {
  Hook(GradBuckets& owner, size_t param) : owner(owner), param(param) {}
  void operator()(const torch::autograd::Variable& /*accumulated*/) override { owner.on_grad_accumulated(param); }
  GradBuckets& owner;
  size_t param;
};

GradBuckets::GradBuckets(ProcessGroup& pg, std::vector<at::Tensor> params, double bucket_mb)
    : pg_(pg), params_(std::move(params)), slot_(params_.size()), final_(params_.size(), false) {
  double bytes = 0;
  std::vector<int64_t> numel;  // per bucket
  for (size_t i = params_.size(); i-- > 0;) {
    const at::Tensor& p = params_[i];
    const double cap = (buckets_.size() == 1 ? std::min(kFirstBucketMb, bucket_mb) : bucket_mb) * 1024 * 1024;
    // A bucket is one flat tensor: it cannot mix dtypes or devices.
    if (buckets_.empty() || bytes >= cap || p.scalar_type() != params_[buckets_.back().params[0]].scalar_type() ||
        p.device() != params_[buckets_.back().params[0]].device()) {
      buckets_.emplace_back();
      numel.push_back(0);
      bytes = 0;
    }
    buckets_.back().params.push_back(i);
    buckets_.back().pending += 1;
    slot_[i] = {buckets_.size() - 1, numel.back()};
    numel.back() += p.numel();
    bytes += static_cast<double>(p.numel() * p.element_size());
  }
  if (!pg_.distributed()) return;
  for (size_t b = 0; b < buckets_.size(); ++b)
    buckets_[b].flat = at::empty({numel[b]}, params_[buckets_[b].params[0]].options());
  for (size_t i = 0; i < params_.size(); ++i) {
    MEDVQA_CHECK(params_[i].requires_grad() && !torch::autograd::impl::post_acc_grad_hooks(params_[i]),
                 "dist: parameter ", i, " of the gradient buckets does not require a gradient or has a hook already",
                 "; this is a bug, please report it");
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<Hook>(*this, i));
  }
}

GradBuckets::~GradBuckets() {
  if (!pg_.distributed()) return;
  for (const auto& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

size_t GradBuckets::started() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_;
}

void GradBuckets::arm() {
  if (!pg_.distributed()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  MEDVQA_CHECK(!armed_, "dist: GradBuckets::arm() twice without finish(); this is a bug, please report it");
  armed_ = true;
}

void GradBuckets::pack(size_t param) {
  const at::Tensor& p = params_[param];
  at::Tensor slot = buckets_[slot_[param].first].flat.narrow(0, slot_[param].second, p.numel());
  if (p.grad().defined())
    slot.copy_(p.grad().reshape({-1}));
  else
    slot.zero_();
}

void GradBuckets::start_ready_buckets() {
  while (next_ < buckets_.size() && buckets_[next_].pending == 0) pg_.start_all_reduce_sum(buckets_[next_++].flat);
}

void GradBuckets::on_grad_accumulated(size_t param) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;  // an earlier micro-batch of the step: gradients still accumulate locally
  MEDVQA_CHECK(!final_[param], "dist: the gradient of parameter ", param, " accumulated twice after GradBuckets::arm()",
               "; this is a bug, please report it");
  final_[param] = true;
  pack(param);
  if (--buckets_[slot_[param].first].pending == 0) start_ready_buckets();
}

void GradBuckets::finish() {
  if (!pg_.distributed()) return;
  const auto t0 = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    // Not accumulated in the armed backward: final already (earlier micro-batches) or zero here.
    for (size_t i = 0; i < params_.size(); ++i)
      if (!final_[i]) {
        pack(i);
        buckets_[slot_[i].first].pending -= 1;
      }
    start_ready_buckets();
  }
  pg_.wait_started();
  exposed_comm_seconds_ += seconds_since(t0);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    at::Tensor sum = buckets_[slot_[i].first].flat.narrow(0, slot_[i].second, p.numel()).view_as(p);
    if (p.grad().defined())
      p.mutable_grad().copy_(sum);
    else
      p.mutable_grad() = sum.clone();
    final_[i] = false;
  }
  for (auto& b : buckets_) b.pending = b.params.size();
  next_ = 0;
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
