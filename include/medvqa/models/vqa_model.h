// The VQA model: frozen vision tower -> feature selection -> projector -> the projected features
// replace the image placeholder positions of the token embeddings (masked_scatter) -> LLaMA.
// Not here: building it from a config and loading weights (registry.h), tokenising, batching.
#pragma once

#include <torch/torch.h>

#include <string>

#include "medvqa/models/llama.h"
#include "medvqa/models/vit.h"

namespace medvqa {

struct VqaModelOptions {
  int64_t feature_layer = -2;             // HF hidden-state numbering of the vision tower
  std::string feature_select = "patch";   // patch | cls_patch | pooled
  std::string projector = "mlp2x_gelu";   // linear | mlp2x_gelu
  int64_t image_token_id = 128002;
};

// LLaVA's mm_projector: Linear, or Linear -> GELU -> Linear; keys mm_projector.{0,2}.{weight,bias}.
class ProjectorImpl : public torch::nn::Module {
 public:
  ProjectorImpl(const std::string& type, int64_t in_features, int64_t out_features);
  at::Tensor forward(const at::Tensor& x) { return mm_projector->forward(x); }
  torch::nn::Sequential mm_projector{nullptr};
};
TORCH_MODULE(Projector);

struct LossSum {
  at::Tensor sum;      // fp32 scalar: cross-entropy summed over label tokens
  int64_t tokens = 0;  // how many label tokens
};

class VqaModelImpl : public torch::nn::Module {
 public:
  VqaModelImpl(Vit vision, Llama llm, const VqaModelOptions& options);

  // Image feature tokens per image (N copies of the placeholder per prompt).
  int64_t image_tokens() const;
  // pixels [B, 3, H, W] -> projected features [B, N, hidden]; blind = zeros (the baseline).
  at::Tensor image_features(const at::Tensor& pixels, bool blind = false);
  // ids [B, T] with N placeholders per row -> inputs_embeds [B, T, hidden].
  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& pixels, bool blind = false);
  // The same with the features already computed ([B, N, hidden], e.g. one image's features
  // repeated for several prompts about it).
  at::Tensor embed_features(const at::Tensor& input_ids, const at::Tensor& features);
  // Shifted next-token cross-entropy summed over the label tokens (labels -100 elsewhere); the LM
  // head runs only at positions whose next token is a label.
  LossSum loss(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& labels,
               const at::Tensor& pixels);

  const VqaModelOptions& options() const { return options_; }

  Vit vision{nullptr};
  Projector projector{nullptr};
  Llama llm{nullptr};

 private:
  VqaModelOptions options_;
};
TORCH_MODULE(VqaModel);

}  // namespace medvqa
