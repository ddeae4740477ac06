// Two forked processes on one TCPStore with c10d's ProcessGroupGloo: gradient buckets sum, a
// broadcast copies rank 0's values, and a rank that dies makes the other's collective fail with an
// error naming it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/test_util.h"
#include "dist/two_ranks.h"
#include "medvqa/dist/gather.h"
#include "medvqa/dist/grad_buckets.h"
#include "medvqa/dist/launcher.h"
#include "medvqa/dist/process_group.h"

using namespace medvqa;

namespace {

using test_util::kTimeout;
using test_util::two_ranks;

// Parameters of rank r: three tensors (two dtypes), with gradients r+1, except that rank 1 has
// no gradient for the last one (no sample reached it).
std::vector<at::Tensor> params_of(int rank) {
  std::vector<at::Tensor> ps{at::full({3, 4}, 10.0 * (rank + 1)), at::full({5}, 20.0 * (rank + 1)),
                             at::full({2}, 30.0 * (rank + 1), at::kDouble)};
  for (size_t i = 0; i < ps.size(); ++i) {
    ps[i].set_requires_grad(true);
    if (rank == 0 || i + 1 < ps.size()) ps[i].mutable_grad() = at::full_like(ps[i], rank + 1.0);
  }
  return ps;
}

bool synced(ProcessGroup& pg) {
  auto ps = params_of(pg.rank());
  GradBuckets buckets(pg, ps, 16.0 / (1024 * 1024));  // 16 bytes: one bucket per tensor
  if (buckets.buckets() != 3) return false;
  buckets.finish();  // without a backward: every bucket starts here
  broadcast_parameters(pg, ps);
  bool ok = at::equal(ps[0].grad(), at::full({3, 4}, 3.0)) && at::equal(ps[1].grad(), at::full({5}, 3.0)) &&
            at::equal(ps[2].grad(), at::full({2}, 1.0, at::kDouble)) && at::equal(ps[0], at::full({3, 4}, 10.0)) &&
            at::equal(ps[2], at::full({2}, 30.0, at::kDouble));
  ok = ok && pg.sum_values({1.5, double(pg.rank())}) == std::vector<double>({3.0, 1.0});
  auto gathered = pg.all_gather(at::full({2}, pg.rank(), at::kByte));
  ok = ok && gathered.size() == 2 && gathered[1][0].item<int>() == 1;
  const std::string binary("h\xc3\xa9llo\0x", 8);
  auto strings = all_gather_strings(pg, pg.rank() == 0 ? std::vector<std::string>{"a", ""} : std::vector<std::string>{binary});
  return ok && strings == std::vector<std::string>{"a", "", binary};
}

}  // namespace

TEST(ProcessGroup, GradientBucketsSumAndBroadcastCopiesRankZero) {
  bool rank0_ok = false;
  int child = two_ranks(synced, [&](ProcessGroup& pg) { rank0_ok = synced(pg); });
  EXPECT_TRUE(rank0_ok);
  EXPECT_EQ(child, 0) << "rank 1 saw wrong values";
}

TEST(ProcessGroup, ShardsCoverEveryItemOnceInOrder) {
  for (size_t n : {0, 1, 5, 11})
    for (int w : {1, 2, 3, 4}) {
      size_t next = 0;
      for (int r = 0; r < w; ++r) {
        auto [begin, end] = shard_range(n, r, w);
        EXPECT_EQ(begin, next) << n << " items, rank " << r << " of " << w;
        EXPECT_LE(end - begin, n / w + 1);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
}

TEST(ProcessGroup, WorldSizeOneIsTheIdentityWithoutAGroup) {
  ProcessGroup pg(DistEnv{}, c10::Device(c10::kCPU), kTimeout);
  EXPECT_FALSE(pg.distributed());
  EXPECT_STREQ(pg.backend_name(), "none");
  auto ps = params_of(0);
  GradBuckets(pg, ps, 25).finish();
  EXPECT_TRUE(at::equal(ps[0].grad(), at::full({3, 4}, 1.0)));
  EXPECT_EQ(pg.sum_values({2.0}), std::vector<double>{2.0});
}

TEST(ProcessGroup, ADeadRankIsNamedInTheSurvivorsError) {
  std::string message;
  int child = two_ranks([](ProcessGroup&) -> bool { ::_exit(0); }, [&](ProcessGroup& pg) {
    message = test_util::error_message([&] { pg.sum_values({1.0}); });
  });
  EXPECT_EQ(child, 0);
  EXPECT_NE(message.find("rank 1 did not answer"), std::string::npos) << message;
  EXPECT_NE(message.find("dist.timeout_s"), std::string::npos) << message;
}
