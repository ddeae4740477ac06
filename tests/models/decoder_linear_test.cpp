#include "medvqa/models/decoder_linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/test_util.h"
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

// The bf16 kernel decoder_linear chooses: AVX512-BF16 pair dot products where the CPU has them,
// else bf16 widened to fp32 FMAs.
LinearPath bf16_streaming_path() {
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") ? LinearPath::kStreamingBf16Pairs
                                                                                    : LinearPath::kStreaming;
}

// Every bf16 streaming kernel this CPU can run, forced whatever decoder_linear would choose: the
// AVX2 one runs on AVX-512 CPUs too, so each machine checks all it has, not only its own choice.
std::vector<LinearPath> bf16_streaming_paths() {
  std::vector<LinearPath> out;
  for (LinearPath p : {LinearPath::kStreaming, LinearPath::kStreamingBf16Pairs})
    if (cpu_runs(p)) out.push_back(p);
  return out;
}

}  // namespace

TEST(DecoderLinear, MatchesLinearForEveryRowCountAndTail) {
  torch::manual_seed(0);
  c10::InferenceMode inference;
  // 100 and 200 are not multiples of the 8-wide vector step: the scalar tail runs too.
  for (int64_t K : {16, 100, 200})
    for (int64_t rows = 1; rows <= kSmallBatchMaxRows; ++rows) {
      auto w = torch::randn({333, K}) / std::sqrt(static_cast<double>(K));
      auto x = torch::randn({rows, K});
      ASSERT_EQ(decoder_linear_path(x, w), LinearPath::kStreaming);
      double diff = (decoder_linear(x, w).to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
      EXPECT_LT(diff, kFp32Tolerance) << "K " << K << " rows " << rows;
    }
}

TEST(DecoderLinear, Bf16WeightsAccumulateInFp32) {
  torch::manual_seed(1);
  c10::InferenceMode inference;
  // Steps of 8 (fp32 FMAs) and 32 (pair dot products): 96 has no tail for either; 100 and 200 have
  // a scalar or masked tail; 16 is all tail for the pair kernel.
  ASSERT_FALSE(bf16_streaming_paths().empty()) << "an x86-64 CPU without AVX2 and FMA";
  for (LinearPath path : bf16_streaming_paths())
    for (int64_t K : {16, 96, 100, 200})
      for (int64_t rows = 1; rows <= kSmallBatchMaxRows; ++rows) {
        auto w = (torch::randn({257, K}) / 10).to(torch::kBFloat16);
        auto x = torch::randn({rows, K}).to(torch::kBFloat16);
        ASSERT_EQ(decoder_linear_path(x, w), bf16_streaming_path());
        double diff = (decoder_linear(x, w, path).to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
        EXPECT_LT(diff, kBf16Tolerance) << "path " << static_cast<int>(path) << " K " << K << " rows " << rows;
      }
  auto w = (torch::randn({257, 96}) / 10).to(torch::kBFloat16);
  auto y = decoder_linear(torch::randn({2, 3, 96}).to(torch::kBFloat16), w);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 257}));
}

TEST(DecoderLinear, ARowsResultDoesNotDependOnTheBatch) {
  torch::manual_seed(2);
  c10::InferenceMode inference;
  std::vector<std::pair<c10::ScalarType, LinearPath>> cases{{torch::kFloat, LinearPath::kStreaming}};
  for (LinearPath p : bf16_streaming_paths()) cases.emplace_back(torch::kBFloat16, p);
  for (auto [dtype, path] : cases) {
    auto w = torch::randn({131, 77}).to(dtype);
    auto x = torch::randn({kSmallBatchMaxRows, 77}).to(dtype);
    auto batched = decoder_linear(x, w, path);
    for (int64_t r = 0; r < x.size(0); ++r)
      EXPECT_TRUE(torch::equal(batched[r], decoder_linear(x.narrow(0, r, 1), w, path)[0]))
          << dtype << " path " << static_cast<int>(path) << " row " << r;
  }
}

// Chosen on CPUs without bf16 arithmetic; forced (and so checked) on every CPU.
TEST(DecoderLinear, ManyBf16RowsTakeTheWidenedFp32Gemm) {
  torch::manual_seed(4);
  c10::InferenceMode inference;
  // 4100 x 1024 weights are three blocks of widening, the last one short.
  auto w = (torch::randn({4100, 1024}) / 30).to(torch::kBFloat16);
  for (int64_t rows : {kSmallBatchMaxRows + 1, int64_t{100}}) {
    auto x = torch::randn({rows, 1024}).to(torch::kBFloat16);
    ASSERT_EQ(decoder_linear_path(x, w), cpu_runs(LinearPath::kStreamingBf16Pairs) ? LinearPath::kLinear
                                                                                   : LinearPath::kWidenedBf16);
    auto y = decoder_linear(x, w, LinearPath::kWidenedBf16);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    double diff = (y.to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
    EXPECT_LT(diff, kBf16Tolerance) << "rows " << rows;
    // The same sums as at::linear's bf16 GEMM, up to their order: at most one bf16 rounding apart.
    EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), at::linear(x, w).to(torch::kFloat), 1e-2, 1e-2)) << "rows " << rows;
  }
}

TEST(DecoderLinear, NonContiguousInputs) {
  torch::manual_seed(3);
  c10::InferenceMode inference;
  auto w = torch::randn({64, 48});
  auto x = torch::randn({48, 3}).t();  // [3, 48], column-major
  double diff = (decoder_linear(x, w).to(torch::kDouble) - reference(x, w)).abs().max().item<double>();
  EXPECT_LT(diff, kFp32Tolerance);
}

TEST(DecoderLinear, LeavesAutogradBigBatchesAndAutocastToLinear) {
  auto w = torch::randn({8, 16}, torch::requires_grad());
  auto x = torch::randn({2, 16});
  EXPECT_EQ(decoder_linear_path(x, w), LinearPath::kLinear);  // the weight needs a gradient
  auto y = decoder_linear(x, w);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), x.sum(0).expand({8, 16})));
  {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(decoder_linear_path(x, w), LinearPath::kStreaming);
    EXPECT_EQ(decoder_linear_path(torch::randn({kSmallBatchMaxRows + 1, 16}), w), LinearPath::kLinear);  // fp32
    EXPECT_EQ(decoder_linear_path(x.to(torch::kDouble), w.to(torch::kDouble)), LinearPath::kLinear);
    EXPECT_EQ(decoder_linear_path(x, w.t().contiguous().t()), LinearPath::kLinear);  // strided weight
    AutocastGuard autocast(at::kCPU, true, at::kBFloat16);
    EXPECT_EQ(decoder_linear_path(x, w), LinearPath::kLinear);
  }
}

TEST(DecoderLinear, AForcedPathRefusesWhatItCannotTake) {
  c10::InferenceMode inference;
  auto w = torch::randn({16, 32});
  auto many = torch::randn({kSmallBatchMaxRows + 1, 32});
  auto error = test_util::error_message;
  EXPECT_NE(error([&] { decoder_linear(many, w, LinearPath::kStreaming); }).find("at most 8 rows"), std::string::npos);
  EXPECT_NE(error([&] { decoder_linear(many, w, LinearPath::kWidenedBf16); }).find("bf16 weights"), std::string::npos);
  EXPECT_NE(error([&] { decoder_linear(torch::randn({2, 31}), w, LinearPath::kStreaming); }).find("at::linear only"),
            std::string::npos);
}
