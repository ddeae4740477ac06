// Activation checkpointing (LibTorch has no torch.utils.checkpoint): run a function of one tensor
// without keeping its activations and recompute it in backward, under the forward's RNG and
// autocast state so dropout masks and precisions match. LlamaImpl uses it per decoder layer.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace medvqa {

// fn(x), keeping only x for backward. `params`: the tensors fn uses that require gradients; their
// gradients (and x's) come from the recomputation. Outside grad mode, or with nothing to
// differentiate, this is just fn(x).
at::Tensor checkpointed(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x,
                        const std::vector<at::Tensor>& params);

}  // namespace medvqa
