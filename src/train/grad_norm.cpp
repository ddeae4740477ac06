#include "medvqa/train/grad_norm.h"

#include <ATen/ATen.h>

namespace medvqa {

at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> grads, norms;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return at::zeros({}, at::kFloat);
  for (const auto& g : grads) norms.push_back(g.detach().norm(2));
  at::Tensor total = norms.size() == 1 ? norms[0] : at::stack(norms).norm(2);
  if (max_norm > 0) {
    at::Tensor coef = at::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
    for (auto& g : grads) g.detach().mul_(coef);
  }
  return total.to(at::kFloat);
}

}  // namespace medvqa
