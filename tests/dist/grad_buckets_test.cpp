// The gradient all-reduce overlaps backward: on two forked Gloo ranks, a bucket starts its
// collective inside backward as soon as its gradients are final, earlier micro-batches of a step
// start nothing, and a parameter (or a whole backward) missing on one rank neither hangs nor breaks
// the sums, because buckets start in index order on every rank.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/variable.h>

#include <iostream>

#include "dist/two_ranks.h"
#include "medvqa/dist/grad_buckets.h"

using namespace medvqa;
using test_util::both_ranks_in_children;

namespace {

constexpr double kOneBucketPerParam = 16.0 / (1024 * 1024);  // 16 bytes: each [4] float is a bucket

// Trainable [4] parameters filled with `values` (the same on every rank).
std::vector<at::Tensor> params(std::vector<double> values) {
  std::vector<at::Tensor> ps;
  for (double v : values) ps.push_back(at::full({4}, v).set_requires_grad(true));
  return ps;
}

// Prints the mismatch on this rank's stderr (the test only sees the exit status).
bool expect(ProcessGroup& pg, bool ok, const std::string& what) {
  if (!ok) std::cerr << "rank " + std::to_string(pg.rank()) + ": " + what + "\n";  // one write: ranks interleave
  return ok;
}

bool grad_is(ProcessGroup& pg, const at::Tensor& p, double value, const std::string& name) {
  bool ok = p.grad().defined() && at::equal(p.grad(), at::full({4}, value));
  return expect(pg, ok, name + ".grad is " + (p.grad().defined() ? std::to_string(p.grad()[0].item<double>()) : "undefined") +
                            ", expected " + std::to_string(value));
}

// A two-layer chain loss = sum(p1 * (p0 * x)): backward finishes p1's gradient (bucket 0) first.
// A hook on p0 * x, which runs before p0's gradient is computed, records how many buckets have
// started by then.
at::Tensor chain_loss(const std::vector<at::Tensor>& ps, double x, GradBuckets& buckets, int64_t& started_mid_backward) {
  at::Tensor z = ps[0] * x;
  z.register_hook([&buckets, &started_mid_backward](const at::Tensor&) {
    started_mid_backward = static_cast<int64_t>(buckets.started());
  });
  return (ps[1] * z).sum();
}

bool overlaps(ProcessGroup& pg) {
  auto ps = params({2, 3});
  GradBuckets buckets(pg, ps, kOneBucketPerParam);
  const double x = pg.rank() + 1.0;
  int64_t mid = -1;
  buckets.arm();
  chain_loss(ps, x, buckets, mid).backward();
  const size_t after = buckets.started();
  buckets.finish();
  // d/dp1 = p0 * x, d/dp0 = p1 * x, summed over x = 1, 2.
  return expect(pg, buckets.buckets() == 2, "buckets") &&
         expect(pg, mid == 1, "buckets started before p0's gradient: " + std::to_string(mid) + ", expected 1") &&
         expect(pg, after == 2, "buckets started when backward returned: " + std::to_string(after) + ", expected 2") &&
         grad_is(pg, ps[1], 2 * 3.0, "p1") && grad_is(pg, ps[0], 3 * 3.0, "p0");
}

bool accumulates_then_overlaps(ProcessGroup& pg) {
  auto ps = params({2, 3});
  GradBuckets buckets(pg, ps, kOneBucketPerParam);
  int64_t mid = -1;
  const double x1 = pg.rank() + 1.0, x2 = 10 * (pg.rank() + 1.0);
  chain_loss(ps, x1, buckets, mid).backward();  // micro-batch 1 of 2: local accumulation only
  bool ok = expect(pg, mid == 0 && buckets.started() == 0, "micro-batch 1 started a collective") &&
            grad_is(pg, ps[1], 2 * x1, "p1 after micro-batch 1 (local)");
  buckets.arm();
  chain_loss(ps, x2, buckets, mid).backward();
  ok = ok && expect(pg, mid == 1 && buckets.started() == 2, "micro-batch 2 did not start the buckets during backward");
  buckets.finish();
  // Summed over both micro-batches and both ranks: x1 + x2 = 11 and 22.
  return ok && grad_is(pg, ps[1], 2 * 33.0, "p1") && grad_is(pg, ps[0], 3 * 33.0, "p0");
}

TEST(GradBuckets, BucketsStartInsideBackwardInReverseParameterOrder) {
  EXPECT_TRUE(both_ranks_in_children(overlaps)) << "see the ranks' stderr";
}

TEST(GradBuckets, EarlierMicroBatchesOfAStepStartNoCollective) {
  EXPECT_TRUE(both_ranks_in_children(accumulates_then_overlaps)) << "see the ranks' stderr";
}

// Buckets [p3] [p2] [p1] [p0]. Rank 1 never uses p2 (a sample-dependent branch), so its bucket 1
// is not final there until finish(), and bucket 2 and 3 must wait behind it although their
// gradients are final: starting them first would pair rank 1's p1 with rank 0's p2.
bool unused_on_rank_1(ProcessGroup& pg) {
  auto ps = params({1, 2, 3, 4});
  GradBuckets buckets(pg, ps, kOneBucketPerParam);
  const double x = pg.rank() + 1.0;
  at::Tensor loss = (ps[0] * x).sum() + (ps[1] * 2 * x).sum() + (ps[3] * 4 * x).sum();
  if (pg.rank() == 0) loss = loss + (ps[2] * 3 * x).sum();
  buckets.arm();
  loss.backward();
  const size_t after = buckets.started();
  buckets.finish();
  return expect(pg, after == (pg.rank() == 0 ? 4u : 1u), "buckets started in backward: " + std::to_string(after)) &&
         grad_is(pg, ps[0], 3, "p0") && grad_is(pg, ps[1], 6, "p1") && grad_is(pg, ps[2], 3, "p2 (rank 0's only)") &&
         grad_is(pg, ps[3], 12, "p3");
}

TEST(GradBuckets, AParameterUnusedOnOneRankCountsAsZeroInOrder) {
  EXPECT_TRUE(both_ranks_in_children(unused_on_rank_1)) << "see the ranks' stderr";
}

// Rank 1's last micro-batch is empty (the epoch's partial global batch): it arms and finishes
// without a backward and still joins every bucket's collective. The hooks go with the buckets.
bool no_backward_on_rank_1(ProcessGroup& pg) {
  auto ps = params({2, 3});
  {
    GradBuckets buckets(pg, ps, kOneBucketPerParam);
    int64_t mid = -1;
    buckets.arm();
    if (pg.rank() == 0) chain_loss(ps, 1.0, buckets, mid).backward();
    buckets.finish();
  }
  return grad_is(pg, ps[1], 2, "p1") && grad_is(pg, ps[0], 3, "p0") &&
         expect(pg, !torch::autograd::impl::post_acc_grad_hooks(ps[0]), "a hook outlived its GradBuckets");
}

TEST(GradBuckets, ARankWithoutBackwardStillJoinsEveryBucketAndHooksGoWithTheBuckets) {
  EXPECT_TRUE(both_ranks_in_children(no_backward_on_rank_1)) << "see the ranks' stderr";
}

}  // namespace
