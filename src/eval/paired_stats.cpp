#include "medvqa/eval/paired_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

// numpy.percentile(sorted, 100 * q) with its default ("linear") method: the value at the
// fractional rank (B - 1) q, interpolated between its two neighbours.
double linear_percentile(const std::vector<double>& sorted, double q) {
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double mcnemar_exact_p(size_t b, size_t c) {
  const size_t n = b + c, k = std::min(b, c);
  if (n == 0) return 1.0;
  // P(X <= k) summed in log space so that thousands of discordant pairs neither overflow nor underflow.
  const double log_half_n = -static_cast<double>(n) * std::log(2.0);
  const double log_n_fact = std::lgamma(static_cast<double>(n) + 1.0);
  double cdf = 0.0;
  for (size_t j = 0; j <= k; ++j)
    cdf += std::exp(log_n_fact - std::lgamma(static_cast<double>(j) + 1.0) -
                    std::lgamma(static_cast<double>(n - j) + 1.0) + log_half_n);
  return std::min(1.0, 2.0 * cdf);
}

// The rule, so any language can reproduce the interval exactly: SplitMix64(seed); each resample
// draws n indices as next() % n (the modulo bias is below 1e-9 for any realistic n) and takes
// mean(candidate[i] - baseline[i]) over them, summed left to right; the B differences are sorted
// and the interval is numpy.percentile(differences, [2.5, 97.5]) (method "linear").
std::array<double, 2> paired_bootstrap_ci95(const std::vector<bool>& baseline, const std::vector<bool>& candidate,
                                            int resamples, uint64_t seed) {
  MEDVQA_CHECK(!baseline.empty() && baseline.size() == candidate.size() && resamples > 0,
               "paired bootstrap: needs the same non-zero number of outcomes on both sides and resamples, got ",
               baseline.size(), " and ", candidate.size(), " outcomes, ", resamples, " resamples");
  SplitMix64 rng(seed);
  const size_t n = baseline.size();
  std::vector<double> differences(static_cast<size_t>(resamples));
  for (double& d : differences) {
    int64_t sum = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = static_cast<size_t>(rng.next() % n);
      sum += static_cast<int64_t>(candidate[i]) - static_cast<int64_t>(baseline[i]);
    }
    d = static_cast<double>(sum) / static_cast<double>(n);
  }
  std::sort(differences.begin(), differences.end());
  return {linear_percentile(differences, 0.025), linear_percentile(differences, 0.975)};
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(p.size());
  double running = 0.0;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    running = std::max(running, static_cast<double>(p.size() - rank) * p[order[rank]]);
    adjusted[order[rank]] = std::min(1.0, running);
  }
  return adjusted;
}

}  // namespace medvqa
