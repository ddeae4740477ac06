// A tiny random VQA model for GoogleTest suites: a 32-pixel ViT of 4 patches (so 4 image tokens per
// prompt), the identity projector's shape onto a 2-layer LLaMA of 61 tokens, weights ~ N(0, 0.3).
#pragma once

#include "common/tiny_llama.h"
#include "medvqa/models/vqa_model.h"

namespace medvqa::test_util {

inline VqaModel tiny_vqa(int64_t image_token_id, uint64_t seed = 3) {
  torch::manual_seed(seed);
  VitOptions v;
  v.image_size = 32;
  v.patch_size = 16;  // 4 patches
  v.width = 16;
  v.depth = 2;
  v.heads = 2;
  v.mlp_dim = 32;
  v.embed_dim = 8;
  VqaModelOptions o;
  o.image_token_id = image_token_id;
  o.feature_layer = -1;
  VqaModel model(Vit(v), Llama(tiny_llama(61, 32, 48, 2, 4, 2, 8)), o);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0, 0.3);
  model->eval();
  return model;
}

}  // namespace medvqa::test_util
