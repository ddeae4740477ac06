// Times medvqa's decoder linear (the streaming kernel up to 8 rows of x, the widened bf16 GEMM for
// more) beside at::linear (what torch.nn.functional.linear runs) on the decoder's weight shapes and
// prints one JSON line per case: milliseconds (best of --repeat), GFLOP/s and weight GB/s for each.
// The first line is the arithmetic ceiling those GFLOP/s compare to: independent AVX2 FMAs on
// THREADS threads at once (torch.matmul's fp32 GEMM, machine_peak.py, reaches about 60% of it).
// Usage: bench_decoder_linear [THREADS] [REPEAT] [SHAPE]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "medvqa/models/decoder_linear.h"

namespace {

double best_ms(const std::function<void()>& f, int repeat) {
  f();  // warm-up: page faults, thread pool
  double best = 1e30;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

constexpr int kChains = 10;
constexpr long kSteps = 100'000'000;

// kChains independent 8-wide FMA chains, enough to fill both FMA ports through their latency.
__attribute__((target("avx2,fma"))) float fma_chains() {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * c);
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(0.0001f);
  for (long i = 0; i < kSteps; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  float sum = 0;
  for (int c = 0; c < kChains; ++c) sum += _mm256_cvtss_f32(acc[c]);
  return sum;
}

// The same with AVX512-BF16 pair dot products: 16 lanes x 2 products, what the bf16 kernel runs.
__attribute__((target("avx512f,avx512bf16"))) float bf16_pair_chains() {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * c);
  const auto a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3800);  // 1, 2^-15
  for (long i = 0; i < kSteps; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_cvtss_f32(sum);
}

// GFLOP/s of `threads` threads running `chains` at once, each step `flop` per chain.
double peak_gflops(int threads, float (*chains)(), double flop) {
  std::vector<float> sink(threads);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&sink, t, chains] { sink[t] = chains(); });
  for (auto& th : pool) th.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return threads * kSteps * kChains * flop / seconds / 1e9;
}

const char* path_name(medvqa::LinearPath path) {
  switch (path) {
    case medvqa::LinearPath::kStreaming: return "streaming";
    case medvqa::LinearPath::kStreamingBf16Pairs: return "streaming_bf16_pairs";
    case medvqa::LinearPath::kWidenedBf16: return "widened_bf16";
    case medvqa::LinearPath::kLinear: break;
  }
  return "at_linear";
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int repeat = argc > 2 ? std::atoi(argv[2]) : 20;
  const char* only = argc > 3 ? argv[3] : nullptr;
  at::set_num_threads(threads);
  std::printf("{\"fma_peak_gflops\": %.1f, \"threads\": %d}\n", peak_gflops(threads, fma_chains, 16.0), threads);
  if (__builtin_cpu_supports("avx512bf16"))
    std::printf("{\"bf16_pairs_peak_gflops\": %.1f, \"threads\": %d}\n", peak_gflops(threads, bf16_pair_chains, 64.0),
                threads);
  c10::InferenceMode inference;
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  // The linears of bench_llama.py's model (LLaMA-3.2-shaped, hidden 512). A decode step streams
  // 186 MB of bf16 weights, so no layer's weights are still in the 32 MB L3 when it comes round
  // again: each case sweeps over enough copies of W to stream kSweepBytes, and reports per call.
  constexpr int64_t kSweepBytes = int64_t{128} << 20;
  const Shape shapes[] = {{"lm_head", 128256, 512}, {"q_proj", 512, 512}, {"gate_proj", 1792, 512}, {"down_proj", 512, 1792}};
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    for (const auto& s : shapes) {
      if (only && std::strcmp(only, s.name) != 0) continue;
      std::vector<at::Tensor> ws(std::max<int64_t>(1, kSweepBytes / (s.n * s.k * c10::elementSize(dtype))));
      for (auto& w : ws) w = at::randn({s.n, s.k}).to(dtype);
      const double copies = static_cast<double>(ws.size());
      for (int64_t m : {1, 4, 8, 128}) {
        const at::Tensor x = at::randn({m, s.k}).to(dtype);
        const double ours = best_ms([&] { for (const auto& w : ws) medvqa::decoder_linear(x, w); }, repeat) / copies;
        const double torch_ms = best_ms([&] { for (const auto& w : ws) at::linear(x, w); }, std::min(repeat, 3)) / copies;
        const double flop = 2.0 * m * s.n * s.k, bytes = static_cast<double>(ws[0].nbytes());
        std::printf(
            "{\"shape\": \"%s\", \"dtype\": \"%s\", \"rows\": %lld, \"path\": \"%s\", \"medvqa_ms\": %.3f, \"at_linear_ms\": %.3f, "
            "\"medvqa_gflops\": %.1f, \"at_linear_gflops\": %.1f, \"medvqa_weight_gbps\": %.1f}\n",
            s.name, dtype == at::kFloat ? "fp32" : "bf16", static_cast<long long>(m),
            path_name(medvqa::decoder_linear_path(x, ws[0])), ours, torch_ms, flop / ours / 1e6,
            flop / torch_ms / 1e6, bytes / ours / 1e6);
        std::fflush(stdout);
      }
    }
  }
}
