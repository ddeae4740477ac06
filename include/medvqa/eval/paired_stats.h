// Statistics of two systems' right/wrong outcomes on the same items: McNemar's exact test, a
// paired bootstrap interval of the accuracy difference, and Holm's step-down adjustment of a
// family of p-values. Pure functions of their inputs; not the pairing of items (compare.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace medvqa {

constexpr int kPairedBootstrapResamples = 2000;
constexpr uint64_t kPairedBootstrapSeed = 0;

// splitmix64 (Steele, Lea, Flood 2014): the generator of the paired bootstrap, chosen because any
// language reproduces it in a few lines (tests/parity/test_compare.py does, with numpy).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();

 private:
  uint64_t state_;
};

// McNemar's exact test on the discordant pairs: b items only the baseline got right, c only the
// candidate. Two-sided binomial test of min(b, c) under Binomial(b + c, 1/2):
// min(1, 2 * P(X <= min(b, c))), statsmodels' mcnemar(exact=True); 1 when b + c = 0.
double mcnemar_exact_p(size_t b, size_t c);

// 95% percentile interval of mean(candidate) - mean(baseline) over paired resamples (rule in
// paired_stats.cpp, docs/scoring.md). Both vectors hold one outcome per item, same order, not empty.
std::array<double, 2> paired_bootstrap_ci95(const std::vector<bool>& baseline, const std::vector<bool>& candidate,
                                            int resamples = kPairedBootstrapResamples,
                                            uint64_t seed = kPairedBootstrapSeed);

// Holm's step-down adjusted p-values, in the input order: statsmodels'
// multipletests(p, method="holm")[1].
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace medvqa
