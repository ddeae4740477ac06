// paired_stats: McNemar's exact p-value on hand-computed binomial tails, the splitmix64 stream of
// its published reference values, the bootstrap interval's rule, and Holm's adjustment by hand.
// The comparison with scipy / statsmodels / numpy on many draws is tests/parity/test_compare.py.
#include "medvqa/eval/paired_stats.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace medvqa;

namespace {
constexpr double kExact = 1e-12;  // closed forms computed in double
}  // namespace

TEST(PairedStats, McNemarExactIsTheTwoSidedBinomialTail) {
  EXPECT_EQ(mcnemar_exact_p(0, 0), 1.0);
  // b = 0, c = 5: 2 * 0.5^5.
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 2.0 / 32.0, kExact);
  EXPECT_NEAR(mcnemar_exact_p(5, 0), 2.0 / 32.0, kExact);
  // b = 2, c = 8: 2 * (1 + 10 + 45) / 1024.
  EXPECT_NEAR(mcnemar_exact_p(2, 8), 2.0 * 56.0 / 1024.0, kExact);
  // Symmetric counts: capped at 1.
  EXPECT_EQ(mcnemar_exact_p(7, 7), 1.0);
  // Thousands of pairs neither overflow nor underflow.
  const double p = mcnemar_exact_p(4000, 4400);
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1e-3);
}

TEST(PairedStats, SplitMix64MatchesTheReferenceStream) {
  // splitmix64.c (Vigna) seeded with 0: the first outputs.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.next(), 0x06c45d188009454fULL);
}

TEST(PairedStats, BootstrapIntervalOfIdenticalOutcomesIsZero) {
  std::vector<bool> a{true, false, true, true, false};
  auto ci = paired_bootstrap_ci95(a, a);
  EXPECT_EQ(ci[0], 0.0);
  EXPECT_EQ(ci[1], 0.0);
}

TEST(PairedStats, BootstrapIntervalOfAConstantDifferenceIsThatDifference) {
  // Every item flips right -> wrong: every resample's difference is -1.
  std::vector<bool> base(40, true), cand(40, false);
  auto ci = paired_bootstrap_ci95(base, cand, 200, 7);
  EXPECT_EQ(ci[0], -1.0);
  EXPECT_EQ(ci[1], -1.0);
}

TEST(PairedStats, BootstrapIntervalHoldsTheObservedDifferenceAndIsSeeded) {
  std::vector<bool> base, cand;
  for (int i = 0; i < 200; ++i) {
    base.push_back(i % 3 != 0);        // 2/3 right
    cand.push_back(i % 3 != 0 && i % 5 != 0);  // some of those flip
  }
  auto ci = paired_bootstrap_ci95(base, cand, 500, 1);
  double observed = 0;
  for (size_t i = 0; i < base.size(); ++i) observed += static_cast<double>(cand[i]) - static_cast<double>(base[i]);
  observed /= static_cast<double>(base.size());
  EXPECT_LT(ci[0], observed);
  EXPECT_GT(ci[1], observed);
  EXPECT_LT(ci[1], 0.0);
  EXPECT_EQ(ci, paired_bootstrap_ci95(base, cand, 500, 1));
  EXPECT_NE(ci, paired_bootstrap_ci95(base, cand, 500, 2));
}

TEST(PairedStats, HolmStepDown) {
  // Sorted 0.01, 0.02, 0.03, 0.5 -> 4*0.01, max(0.04, 3*0.02), max(0.06, 2*0.03), max(0.06, 0.5).
  const std::vector<double> adjusted = holm_adjust({0.03, 0.5, 0.01, 0.02});
  const std::vector<double> want = {0.06, 0.5, 0.04, 0.06};
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::abs(adjusted[i] - want[i]) > worst) worst = std::abs(adjusted[i] - want[i]), at = i;
  EXPECT_LE(worst, kExact) << "max abs diff " << worst << " at " << at;
  EXPECT_EQ(holm_adjust({0.6, 0.9})[1], 1.0);  // capped at 1
  EXPECT_TRUE(holm_adjust({}).empty());
}
