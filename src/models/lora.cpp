#include "medvqa/models/lora.h"

#include <cmath>

#include "medvqa/core/error.h"
#include "medvqa/models/decoder_linear.h"

namespace medvqa {

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
}

std::vector<at::Tensor> LoraLinearImpl::adapter_parameters() const {
  if (!has_adapter()) return {};
  return {lora_A->weight, lora_B->weight};
}

void LoraLinearImpl::add_adapter(const LoraOptions& options) {
  MEDVQA_CHECK(options.r > 0, "lora: rank must be positive to add an adapter, got ", options.r);
  MEDVQA_CHECK(!has_adapter(), "lora: layer already has an adapter");
  options_ = options;
  auto tensor_options = weight.options();
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(weight.size(1), options.r).bias(false)));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(options.r, weight.size(0)).bias(false)));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
  const c10::ScalarType dtype = options.dtype.value_or(tensor_options.dtype().toScalarType());
  lora_A->to(tensor_options.device(), dtype);
  lora_B->to(tensor_options.device(), dtype);
}

at::Tensor LoraLinearImpl::forward(const at::Tensor& x) {
  at::Tensor y = decoder_linear(x, weight);
  if (!has_adapter() || merged_) return y;
  at::Tensor h = options_.dropout > 0 ? torch::dropout(x, options_.dropout, is_training()) : x;
  // lora_B(lora_A(h)) through the decoder's kernels: a row's result then does not depend on the
  // rows decoded beside it (continuous batching; at::linear still runs whatever needs autograd).
  return y + decoder_linear(decoder_linear(h, lora_A->weight), lora_B->weight) * scale();
}

at::Tensor LoraLinearImpl::delta() const {
  at::Tensor d = torch::matmul(lora_B->weight.to(torch::kFloat), lora_A->weight.to(torch::kFloat)) * scale();
  MEDVQA_CHECK(torch::isfinite(d).all().item<bool>(), "lora: refusing to merge a non-finite adapter delta");
  return d;
}

void LoraLinearImpl::merge() {
  MEDVQA_CHECK(has_adapter() && !merged_, "lora: nothing to merge");
  torch::NoGradGuard no_grad;
  weight.copy_((weight.to(torch::kFloat) + delta()).to(weight.scalar_type()));
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  MEDVQA_CHECK(has_adapter() && merged_, "lora: layer is not merged");
  torch::NoGradGuard no_grad;
  weight.copy_((weight.to(torch::kFloat) - delta()).to(weight.scalar_type()));
  merged_ = false;
}

}  // namespace medvqa
