// The bias-free linear layer y = x W^T of the decoder, with two CPU inference paths where the BLAS
// (MKL on this project's wheels) is slow:
// - streaming: the few-row inputs of token-by-token decoding. There the product is a matrix-vector
//   one per row, bound by reading W, and MKL reaches a fraction of the memory bandwidth on such
//   shapes (BENCHMARKS.md, decoder linears). The kernel streams W
//   once for up to kSmallBatchMaxRows rows of x, on the intra-op threads, in fp32 or bf16 (fp32
//   accumulation). bf16 goes through AVX512-BF16's pair dot product where the CPU has it
//   (kStreamingBf16Pairs: x stays bf16, twice the multiply-adds of an fp32 FMA per instruction),
//   else is widened to fp32 (kStreaming).
// - widened bf16: more rows in bf16 on a CPU without bf16 arithmetic (no AVX512-BF16), where MKL's
//   bf16 GEMM runs at a sixth of its fp32 one. W is widened to fp32 in blocks that stay in cache
//   and multiplied by the fp32 GEMM, accumulating in fp32 and rounding once to bf16 as MKL does.
// Anything else (autograd, autocast, CUDA, other dtypes) goes to at::linear.
#pragma once

#include <ATen/core/Tensor.h>

namespace medvqa {

// x [..., in], weight [out, in] -> [..., out].
at::Tensor decoder_linear(const at::Tensor& x, const at::Tensor& weight);

enum class LinearPath { kStreaming, kStreamingBf16Pairs, kWidenedBf16, kLinear };

// Which path decoder_linear(x, weight) takes (exposed for tests and benches).
LinearPath decoder_linear_path(const at::Tensor& x, const at::Tensor& weight);
// Whether this CPU has the instructions of `path` (the AVX2 kernel runs on AVX-512 CPUs too).
bool cpu_runs(LinearPath path);
// `path` whatever decoder_linear_path would choose, so that tests check every kernel this CPU can
// run: tensors decoder_linear_path sends to at::linear, more than kSmallBatchMaxRows rows for a
// streaming kernel and fp32 weights for the bf16 ones are refused.
at::Tensor decoder_linear(const at::Tensor& x, const at::Tensor& weight, LinearPath path);

// Rows of x up to which the streaming kernel is used.
inline constexpr int64_t kSmallBatchMaxRows = 8;

}  // namespace medvqa
