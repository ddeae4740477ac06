// The bias-free linear layer y = x W^T of the decoder, with a CPU kernel for the few-row inputs of
// token-by-token decoding. There the product is a matrix-vector one per row, bound by reading W;
// the BLAS (MKL on this project's wheels) reaches a third of the memory bandwidth on such shapes
// (40 ms for the 128k x 512 LM head against 13 ms for a copy of it). The kernel streams W once for
// up to kSmallBatchMaxRows rows of x, on the intra-op threads, in fp32 or bf16 (fp32 accumulation).
// Anything else (more rows, autograd, autocast, CUDA, other dtypes) goes to at::linear.
#pragma once

#include <ATen/core/Tensor.h>

namespace medvqa {

// x [..., in], weight [out, in] -> [..., out].
at::Tensor small_batch_linear(const at::Tensor& x, const at::Tensor& weight);

// Whether small_batch_linear(x, weight) takes the streaming kernel (exposed for tests and benches).
bool small_batch_kernel_applies(const at::Tensor& x, const at::Tensor& weight);

// Rows of x up to which the streaming kernel is used.
inline constexpr int64_t kSmallBatchMaxRows = 8;

}  // namespace medvqa
