#include "medvqa/models/decoder_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "medvqa/core/error.h"

namespace medvqa {

namespace {

#if defined(__x86_64__)
// Every row of x shares one read of a weight row: one accumulator each, 8 of the 16 AVX registers.
static_assert(kSmallBatchMaxRows <= 8, "one accumulator register per row of x");
// How far ahead in W to prefetch: with 8 rows a weight line is consumed slowly enough that the
// hardware prefetcher alone does not keep the stream at the memory's rate. The AVX512-BF16 kernel
// consumes a line per step and wants a longer lead. Both distances were chosen by measuring 1 to
// 16 KiB (BENCHMARKS.md, LLaMA decoder).
constexpr int64_t kPrefetchBytes = 2048;
constexpr int64_t kPrefetchBytesBf16Dot = 4096;
// Weight rows per parallel task, so a task streams at least tens of kilobytes.
constexpr int64_t kGrainRows = 64;

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

bool cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
  return has;
}

__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }

// bf16 is the top half of an fp32: widen to 32 bits and shift into place.
__attribute__((target("avx2,fma"))) inline __m256 load8(const c10::BFloat16* p) {
  __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Masked extracts of the two halves: GCC 12 warns on the undefined register that the unmasked ones
// (and _mm512_reduce_add_ps) pass.
__attribute__((target("avx512f,fma"))) inline float horizontal_sum(__m512 v) {
  const __m512d d = _mm512_castps_pd(v);
  return horizontal_sum(_mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, d, 0)),
                                      _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, d, 1))));
}

// out[r * out_stride] = dot(w[0:K], x[r * K : r * K + K]) for r < R, one accumulator per output:
// a single dependency chain still outruns one core's share of memory bandwidth, and each dot
// product is summed in the same order whatever R is, so a row's result does not depend on the
// batch around it.
template <int R, typename W>
__attribute__((target("avx2,fma"))) void dot_rows(const W* w, const float* x, int64_t K, float* out, int64_t out_stride) {
  __m256 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(w + k) + kPrefetchBytes, _MM_HINT_T0);
    const __m256 wv = load8(w + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * K + k), acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    float sum = horizontal_sum(acc[r]);
    for (int64_t t = k; t < K; ++t) sum = std::fma(static_cast<float>(w[t]), x[r * K + t], sum);
    out[r * out_stride] = sum;
  }
}

// The same for bf16 x (an overload, chosen by x's type) with AVX512-BF16's pair dot product
// (VDPBF16PS): bf16 products are exact in fp32 and summed in fp32, 32 weights (a cache line) per
// step, twice the pairs per instruction of an fp32 FMA; the K tail goes through zero-filling
// masked loads.
template <int R>
__attribute__((target("avx512f,avx512bw,avx512bf16,fma"))) void dot_rows(const c10::BFloat16* w, const c10::BFloat16* x,
                                                                    int64_t K, float* out, int64_t out_stride) {
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    const __mmask32 live = K - k >= 32 ? ~__mmask32{0} : (__mmask32{1} << (K - k)) - 1;
    _mm_prefetch(reinterpret_cast<const char*>(w + k) + kPrefetchBytesBf16Dot, _MM_HINT_T0);
    const auto wv = (__m512bh)_mm512_maskz_loadu_epi16(live, w + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_maskz_loadu_epi16(live, x + r * K + k), wv);
  }
  for (int r = 0; r < R; ++r) out[r * out_stride] = horizontal_sum(acc[r]);
}

// y [M, N] (fp32) = x [M, K] . w [N, K]^T for M <= kSmallBatchMaxRows, weight rows split across the
// intra-op threads.
template <typename W, typename X>
void stream_weight(const W* w, const X* x, float* y, int64_t M, int64_t N, int64_t K) {
  at::parallel_for(0, N, kGrainRows, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const W* row = w + n * K;
      switch (M) {
        case 1: dot_rows<1>(row, x, K, y + n, N); break;
        case 2: dot_rows<2>(row, x, K, y + n, N); break;
        case 3: dot_rows<3>(row, x, K, y + n, N); break;
        case 4: dot_rows<4>(row, x, K, y + n, N); break;
        case 5: dot_rows<5>(row, x, K, y + n, N); break;
        case 6: dot_rows<6>(row, x, K, y + n, N); break;
        case 7: dot_rows<7>(row, x, K, y + n, N); break;
        default: dot_rows<8>(row, x, K, y + n, N); break;
      }
    }
  });
}

#endif  // __x86_64__

// Weights widened per block: 8 MB of fp32, which stays in L3 between widening and the GEMM (and
// keeps a 128k-row LM head from needing a 263 MB fp32 copy).
constexpr int64_t kWidenBlockElements = 2 << 20;

// bf16 [N, K] weight times fp32 x [M, K] -> bf16 [M, N]: fp32 products and sums, one rounding.
at::Tensor widened_linear(const at::Tensor& x, const at::Tensor& weight) {
  const int64_t N = weight.size(0), K = weight.size(1);
  at::Tensor y = at::empty({x.size(0), N}, x.options().dtype(at::kBFloat16));
  const int64_t rows = std::max<int64_t>(1, kWidenBlockElements / K);
  for (int64_t n = 0; n < N; n += rows) {
    const int64_t count = std::min(rows, N - n);
    y.narrow(1, n, count).copy_(at::linear(x, weight.narrow(0, n, count).to(at::kFloat)));
  }
  return y;
}

// Tensors our kernels can take at all: on the CPU, fp32 or bf16 alike, no autograd or autocast
// (their dtype choices belong to at::linear).
bool kernels_apply(const at::Tensor& x, const at::Tensor& weight) {
  if (!x.device().is_cpu() || !weight.device().is_cpu() || weight.dim() != 2 || !weight.is_contiguous()) return false;
  const auto dtype = weight.scalar_type();
  if (x.scalar_type() != dtype || (dtype != at::kFloat && dtype != at::kBFloat16)) return false;
  const int64_t K = weight.size(1);
  if (x.dim() == 0 || x.size(-1) != K || K == 0 || x.numel() == 0) return false;
  if (at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad())) return false;
  return !at::autocast::is_autocast_enabled(at::kCPU);
}

}  // namespace

LinearPath decoder_linear_path(const at::Tensor& x, const at::Tensor& weight) {
  if (!kernels_apply(x, weight)) return LinearPath::kLinear;
  const auto dtype = weight.scalar_type();
  const int64_t K = weight.size(1);
#if defined(__x86_64__)
  if (x.numel() / K <= kSmallBatchMaxRows) {
    if (dtype == at::kBFloat16 && cpu_has_avx512_bf16()) return LinearPath::kStreamingBf16Pairs;
    return cpu_has_avx2_fma() ? LinearPath::kStreaming : LinearPath::kLinear;
  }
  return dtype == at::kBFloat16 && !cpu_has_avx512_bf16() ? LinearPath::kWidenedBf16 : LinearPath::kLinear;
#else
  return LinearPath::kLinear;  // the kernel is written for x86-64's AVX2
#endif
}

bool cpu_runs(LinearPath path) {
#if defined(__x86_64__)
  if (path == LinearPath::kStreaming) return cpu_has_avx2_fma();
  if (path == LinearPath::kStreamingBf16Pairs) return cpu_has_avx512_bf16();
#else
  if (path == LinearPath::kStreaming || path == LinearPath::kStreamingBf16Pairs) return false;
#endif
  return true;
}

at::Tensor decoder_linear(const at::Tensor& x, const at::Tensor& weight) {
  return decoder_linear(x, weight, decoder_linear_path(x, weight));
}

at::Tensor decoder_linear(const at::Tensor& x, const at::Tensor& weight, LinearPath path) {
  if (path == LinearPath::kLinear) return at::linear(x, weight);
  MEDVQA_CHECK(cpu_runs(path), "decoder_linear: this CPU cannot run the requested kernel");
  MEDVQA_CHECK(kernels_apply(x, weight), "decoder_linear: these tensors take at::linear only");
  const int64_t N = weight.size(0), K = weight.size(1), M = x.numel() / K;
  MEDVQA_CHECK(path == LinearPath::kWidenedBf16 || M <= kSmallBatchMaxRows, "decoder_linear: the streaming kernels take at most ",
               kSmallBatchMaxRows, " rows, got ", M);
  MEDVQA_CHECK(path != LinearPath::kWidenedBf16 || weight.scalar_type() == at::kBFloat16,
               "decoder_linear: the widened path takes bf16 weights");
  MEDVQA_CHECK(path != LinearPath::kStreamingBf16Pairs || weight.scalar_type() == at::kBFloat16,
               "decoder_linear: the pair kernel takes bf16 weights");
  auto sizes = x.sizes().vec();
  sizes.back() = N;
  if (path == LinearPath::kWidenedBf16) return widened_linear(x.reshape({M, K}).to(at::kFloat), weight).view(sizes);
  // The bf16 pair kernel reads x as it is; the others read it in fp32.
  const at::Tensor xs =
      (path == LinearPath::kStreamingBf16Pairs ? x.reshape({M, K}) : x.reshape({M, K}).to(at::kFloat)).contiguous();
  at::Tensor y = at::empty({M, N}, x.options().dtype(at::kFloat));
#if defined(__x86_64__)
  float* out = y.mutable_data_ptr<float>();
  if (path == LinearPath::kStreamingBf16Pairs)
    stream_weight(weight.const_data_ptr<c10::BFloat16>(), xs.const_data_ptr<c10::BFloat16>(), out, M, N, K);
  else if (weight.scalar_type() == at::kFloat)
    stream_weight(weight.const_data_ptr<float>(), xs.const_data_ptr<float>(), out, M, N, K);
  else
    stream_weight(weight.const_data_ptr<c10::BFloat16>(), xs.const_data_ptr<float>(), out, M, N, K);
#endif
  return y.to(x.scalar_type()).view(sizes);
}

}  // namespace medvqa
