#include "medvqa/models/small_batch_linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medvqa/core/autocast.h"

using namespace medvqa;

namespace {

// fp32 sums of 100-200 products in another order than the BLAS.
constexpr double kFp32Tolerance = 1e-5;
// bf16 outputs are rounded to 8 significant bits: one unit in the last place of values near 4.
constexpr double kBf16Tolerance = 3e-2;

at::Tensor reference(const at::Tensor& x, const at::Tensor& w) {
  return torch::matmul(x.to(torch::kDouble), w.to(torch::kDouble).t());
}

}  // namespace

TEST(SmallBatchLinear, MatchesLinearForEveryRowCountAndTail) {
  torch::manual_seed(0);
  c10::InferenceMode inference;
  // 100 and 200 are not multiples of the 16-wide vector step: the scalar tail runs too.
  for (int64_t K : {16, 100, 200})
    for (int64_t rows = 1; rows <= kSmallBatchMaxRows; ++rows) {
      auto w = torch::randn({333, K}) / std::sqrt(static_cast<double>(K));
      auto x = torch::randn({rows, K});
      ASSERT_TRUE(small_batch_kernel_applies(x, w));
      double diff = (small_batch_linear(x, w).to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
      EXPECT_LT(diff, kFp32Tolerance) << "K " << K << " rows " << rows;
    }
}

TEST(SmallBatchLinear, Bf16WeightsAccumulateInFp32) {
  torch::manual_seed(1);
  c10::InferenceMode inference;
  auto w = (torch::randn({257, 96}) / 10).to(torch::kBFloat16);
  auto x = torch::randn({2, 3, 96}).to(torch::kBFloat16);
  ASSERT_TRUE(small_batch_kernel_applies(x, w));
  auto y = small_batch_linear(x, w);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 257}));
  double diff = (y.to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
  EXPECT_LT(diff, kBf16Tolerance);
}

TEST(SmallBatchLinear, ARowsResultDoesNotDependOnTheBatch) {
  torch::manual_seed(2);
  c10::InferenceMode inference;
  auto w = torch::randn({130, 77});
  auto x = torch::randn({kSmallBatchMaxRows, 77});
  auto batched = small_batch_linear(x, w);
  for (int64_t r = 0; r < x.size(0); ++r)
    EXPECT_TRUE(torch::equal(batched[r], small_batch_linear(x.narrow(0, r, 1), w)[0])) << "row " << r;
}

TEST(SmallBatchLinear, NonContiguousInputs) {
  torch::manual_seed(3);
  c10::InferenceMode inference;
  auto w = torch::randn({64, 48});
  auto x = torch::randn({48, 3}).t();  // [3, 48], column-major
  double diff = (small_batch_linear(x, w).to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
  EXPECT_LT(diff, kFp32Tolerance);
}

TEST(SmallBatchLinear, LeavesAutogradBigBatchesAndAutocastToLinear) {
  auto w = torch::randn({8, 16}, torch::requires_grad());
  auto x = torch::randn({2, 16});
  EXPECT_FALSE(small_batch_kernel_applies(x, w));  // the weight needs a gradient
  auto y = small_batch_linear(x, w);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), x.sum(0).expand({8, 16})));
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(small_batch_kernel_applies(x, w));
    EXPECT_FALSE(small_batch_kernel_applies(torch::randn({kSmallBatchMaxRows + 1, 16}), w));
    EXPECT_FALSE(small_batch_kernel_applies(x.to(torch::kDouble), w.to(torch::kDouble)));
    EXPECT_FALSE(small_batch_kernel_applies(x, w.t().contiguous().t()));  // strided weight
    AutocastGuard autocast(at::kCPU, true, at::kBFloat16);
    EXPECT_FALSE(small_batch_kernel_applies(x, w));
  }
}
