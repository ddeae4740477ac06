// Gradient clipping that never waits for the device: torch.nn.utils.clip_grad_norm_'s arithmetic
// (the 2-norm of the per-tensor 2-norms, coefficient max_norm / (norm + 1e-6) clamped to 1), with
// the total norm returned as a device scalar to be read only when it is logged. LibTorch's own
// clip_grad_norm_ returns a double and so synchronises every step.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace medvqa {

// Scales the gradients of `params` (those that have one) so that their total 2-norm is at most
// `max_norm` (no clipping when max_norm <= 0); returns the total norm before clipping, a 0-dim fp32
// tensor on the gradients' device (0 without gradients).
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace medvqa
