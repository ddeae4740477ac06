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
  at::Tensor sum;      // fp32 scalar on the model's device: cross-entropy summed over label tokens
  int64_t tokens = 0;  // how many label tokens
};

// A batch's loss inputs on the model's device, with all that needs the host worked out on the host
// before the copy, so that the forward never waits for the device: the label positions, their
// targets and count, the placeholder check, and whether the batch is right-padded.
struct LossBatch {
  at::Tensor input_ids;        // [B, T]
  at::Tensor attention_mask;   // [B, T]; undefined when no row has padding before a real token
  at::Tensor pixels;           // [B, 3, H, W]
  at::Tensor label_positions;  // [N] flat positions in [B * T] whose next token is a label
  at::Tensor targets;          // [N] those labels
  int64_t tokens = 0;          // N
};

class VqaModelImpl : public torch::nn::Module {
 public:
  VqaModelImpl(Vit vision, Llama llm, const VqaModelOptions& options);

  // Image feature tokens per image (N copies of the placeholder per prompt).
  int64_t image_tokens() const;
  // pixels [B, 3, H, W] -> projected features [B, N, hidden]; blind = zeros (the baseline).
  at::Tensor image_features(const at::Tensor& pixels, bool blind = false);
  // ids [B, T] with N placeholders per row -> inputs_embeds [B, T, hidden]. The count is the
  // caller's to check on the host (check_placeholders; loss_batch does): here it would wait for
  // the device.
  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& pixels, bool blind = false);
  // The same with the features already computed ([B, N, hidden], e.g. one image's features
  // repeated for several prompts about it).
  at::Tensor embed_features(const at::Tensor& input_ids, const at::Tensor& features);
  // Host tensors of a batch (labels -100 where there is no loss) -> a LossBatch on `device`
  // (pinned memory and non-blocking copies on CUDA). A right-padded batch needs no mask: causal
  // attention alone is exact at every position that feeds the loss (padding comes after them), and
  // SDPA may then take its flash kernels, which a boolean mask rules out.
  LossBatch loss_batch(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& labels,
                       const at::Tensor& pixels, const c10::Device& device) const;
  // Shifted next-token cross-entropy summed over the label tokens; the LM head runs only at the
  // label positions. No host synchronisation.
  LossSum loss(const LossBatch& batch);

  const VqaModelOptions& options() const { return options_; }
  // Fails unless every row of ids holds image_tokens() placeholders (a host read of ids).
  void check_placeholders(const at::Tensor& input_ids) const;

  Vit vision{nullptr};
  Projector projector{nullptr};
  Llama llm{nullptr};

 private:
  VqaModelOptions options_;
};
TORCH_MODULE(VqaModel);

}  // namespace medvqa
