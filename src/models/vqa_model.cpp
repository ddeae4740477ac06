#include "medvqa/models/vqa_model.h"

#include "medvqa/core/error.h"

namespace medvqa {

ProjectorImpl::ProjectorImpl(const std::string& type, int64_t in_features, int64_t out_features) {
  mm_projector = torch::nn::Sequential();
  mm_projector->push_back(torch::nn::Linear(in_features, out_features));
  if (type == "mlp2x_gelu") {
    mm_projector->push_back(torch::nn::GELU());
    mm_projector->push_back(torch::nn::Linear(out_features, out_features));
  } else {
    MEDVQA_CHECK(type == "linear", "projector: expected linear or mlp2x_gelu, got '", type, "'");
  }
  register_module("mm_projector", mm_projector);
}

VqaModelImpl::VqaModelImpl(Vit vision_tower, Llama language_model, const VqaModelOptions& options) : options_(options) {
  MEDVQA_CHECK(options.feature_select == "patch" || options.feature_select == "cls_patch" || options.feature_select == "pooled",
               "model.feature_select: expected patch, cls_patch or pooled, got '", options.feature_select, "'");
  resolve_hidden_state_index(options.feature_layer, vision_tower->options.depth);  // validates the layer
  vision = register_module("vision", vision_tower);
  llm = register_module("llm", language_model);
  int64_t in = options.feature_select == "pooled" ? vision->options.embed_dim : vision->options.width;
  projector = register_module("projector", Projector(options.projector, in, llm->options().hidden_size));
}

int64_t VqaModelImpl::image_tokens() const {
  int64_t patches = vision->options.grid() * vision->options.grid();
  if (options_.feature_select == "pooled") return 1;
  return options_.feature_select == "cls_patch" ? patches + 1 : patches;
}

at::Tensor VqaModelImpl::image_features(const at::Tensor& pixels, bool blind) {
  at::Tensor features;
  {
    // The vision tower is frozen: no graph, whatever the caller's mode.
    torch::NoGradGuard no_grad;
    at::Tensor x = pixels.to(vision->trunk->cls_token.options());
    if (options_.feature_select == "pooled")
      features = vision->forward(x).embedding.unsqueeze(1);  // [B, 1, embed_dim]
    else
      features = vision->hidden_state(x, options_.feature_layer, options_.feature_select == "cls_patch");  // [B, N, width]
  }
  features = projector(features.to(projector->mm_projector->parameters()[0].scalar_type()));  // [B, N, hidden]
  return blind ? at::zeros_like(features) : features;
}

at::Tensor VqaModelImpl::embed(const at::Tensor& input_ids, const at::Tensor& pixels, bool blind) {
  return embed_features(input_ids, image_features(pixels, blind));
}

void VqaModelImpl::check_placeholders(const at::Tensor& input_ids) const {
  at::Tensor per_row = (input_ids == options_.image_token_id).sum(1);  // [B]
  int64_t n = image_tokens();
  MEDVQA_CHECK((per_row == n).all().item<bool>(), "model: each prompt must hold ", n, " image placeholder tokens (id ",
               options_.image_token_id, ") for this vision tower and feature selection; found ",
               per_row.min().item<int64_t>(), "..", per_row.max().item<int64_t>());
}

at::Tensor VqaModelImpl::embed_features(const at::Tensor& input_ids, const at::Tensor& features) {
  at::Tensor mask = input_ids == options_.image_token_id;  // [B, T]
  at::Tensor embeds = llm->embed(input_ids);  // [B, T, hidden]
  return embeds.masked_scatter(mask.unsqueeze(-1), features.to(embeds.scalar_type()));
}

LossBatch VqaModelImpl::loss_batch(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& labels,
                                   const at::Tensor& pixels, const c10::Device& device) const {
  TORCH_INTERNAL_ASSERT(input_ids.is_cpu() && labels.is_cpu() && attention_mask.is_cpu(), "loss_batch takes host tensors");
  check_placeholders(input_ids);
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  at::Tensor next = labels.narrow(1, 1, T - 1);  // [B, T-1]: the token each position predicts
  at::Tensor valid = next != -100;
  at::Tensor rows = torch::arange(B, torch::kInt64).unsqueeze(1).expand_as(next);
  at::Tensor cols = torch::arange(T - 1, torch::kInt64).unsqueeze(0).expand_as(next);
  at::Tensor mask = attention_mask.to(torch::kBool);
  // Right-padded: no row has a real token after a padding one (each row's mask never rises).
  const bool right_padded = T < 2 || (mask.narrow(1, 0, T - 1) >= mask.narrow(1, 1, T - 1)).all().item<bool>();
  const bool pin = device.is_cuda();
  auto to_device = [&](const at::Tensor& t) { return (pin ? t.contiguous().pin_memory() : t).to(device, /*non_blocking=*/pin); };
  LossBatch b;
  b.input_ids = to_device(input_ids);
  if (!right_padded) b.attention_mask = to_device(mask);
  b.pixels = to_device(pixels);
  b.label_positions = to_device((rows * T + cols).masked_select(valid));
  b.targets = to_device(next.masked_select(valid));
  b.tokens = b.targets.numel();
  return b;
}

LossSum VqaModelImpl::loss(const LossBatch& batch) {
  LlamaInput in;
  in.inputs_embeds = embed(batch.input_ids, batch.pixels);
  in.attention_mask = batch.attention_mask;
  in.logits_at = batch.label_positions;
  at::Tensor logits = llm->forward(in).to(torch::kFloat);  // [N, vocab]
  LossSum out;
  out.sum = torch::nn::functional::cross_entropy(logits, batch.targets,
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  out.tokens = batch.tokens;
  return out;
}

}  // namespace medvqa
