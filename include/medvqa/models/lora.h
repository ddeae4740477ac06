// LoRA built into the linear layer (torchtune-style): the base weight keeps its checkpoint key
// ("weight"), the adapter adds lora_A / lora_B submodules whose keys are PEFT's once prefixed with
// "base_model.model.". Rank 0 is a plain bias-free linear. Not here: which layers get adapters
// and the adapter files (peft_adapter.h).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace medvqa {

struct LoraOptions {
  int64_t r = 0;
  double alpha = 16;
  double dropout = 0;
  // The adapter weights' dtype; unset: the base weight's. Training under autocast keeps them fp32.
  std::optional<c10::ScalarType> dtype;
};

class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features);
  // x [..., in] -> [..., out]: x W^T + (alpha / r) * B(A(dropout(x))) while unmerged.
  at::Tensor forward(const at::Tensor& x);

  // Adds a fresh adapter: A kaiming-uniform (a = sqrt(5), as PEFT), B zero, so the layer's output
  // is unchanged until B trains. Initialised in fp32, then held in options.dtype (default: the
  // weight's) on the weight's device.
  void add_adapter(const LoraOptions& options);
  bool has_adapter() const { return !lora_A.is_empty(); }
  // lora_A and lora_B's weights (none without an adapter).
  std::vector<at::Tensor> adapter_parameters() const;
  const LoraOptions& lora_options() const { return options_; }
  double scale() const { return options_.alpha / static_cast<double>(options_.r); }

  // W += scale * B A computed in fp32 (refusing a non-finite delta); unmerge subtracts it again.
  // While merged, forward is one matmul.
  void merge();
  void unmerge();
  bool merged() const { return merged_; }

  at::Tensor weight;  // [out, in]
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};  // [r, in], [out, r]

 private:
  at::Tensor delta() const;  // fp32 [out, in]
  LoraOptions options_;
  bool merged_ = false;
};
TORCH_MODULE(LoraLinear);

}  // namespace medvqa
