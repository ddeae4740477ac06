// The BiomedCLIP vision tower: timm's VisionTransformer as open_clip's TimmModel wraps it
// (timm_pool "", timm_proj "linear"), with submodules named after the open_clip keys under
// `visual.` so checkpoints load without a key map. Reading open_clip_config.json and the weights
// is here too; image decoding and preprocessing are src/vision's.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace medvqa {

struct VitOptions {
  int64_t image_size = 224;  // the size the checkpoint's position embedding was trained at
  int64_t patch_size = 16;
  int64_t width = 768;
  int64_t depth = 12;
  int64_t heads = 12;
  int64_t mlp_dim = 3072;
  int64_t embed_dim = 512;  // head.proj output: model_cfg.embed_dim
  bool proj_bias = false;
  double norm_eps = 1e-6;

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_tokens() const { return grid() * grid() + 1; }  // patches + the class token
};

// timm's vit_{tiny,small,base,large}_patch<P>_<S>[.tag] (e.g. vit_base_patch16_224): the sizes
// timm builds for that name. Throws Error naming the supported forms.
VitOptions vit_options_from_timm_name(const std::string& name);
// The vision tower of an open_clip_config.json text; `where` names it in errors. Every problem
// (unsupported pooling, projection, kwargs) is reported at once.
VitOptions parse_open_clip_vision_config(const std::string& json_text, const std::string& where);
// DIR/open_clip_config.json.
VitOptions read_vit_config(const std::string& dir);

// HF's hidden-state numbering over `depth` blocks: 0 = embeddings after the position embedding,
// i = output of block i-1, negative from the end (-1 = last block). Returns 0..depth; throws
// Error when out of range.
int64_t resolve_hidden_state_index(int64_t index, int64_t depth);

class VitAttentionImpl : public torch::nn::Module {
 public:
  VitAttentionImpl(int64_t width, int64_t heads);
  at::Tensor forward(const at::Tensor& x);

  int64_t heads;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(VitAttention);

class VitMlpImpl : public torch::nn::Module {
 public:
  VitMlpImpl(int64_t width, int64_t mlp_dim);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VitMlp);

class VitBlockImpl : public torch::nn::Module {
 public:
  explicit VitBlockImpl(const VitOptions& options);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  VitAttention attn{nullptr};
  VitMlp mlp{nullptr};
};
TORCH_MODULE(VitBlock);

class VitPatchEmbedImpl : public torch::nn::Module {
 public:
  explicit VitPatchEmbedImpl(const VitOptions& options);
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(VitPatchEmbed);

class VitTrunkImpl : public torch::nn::Module {
 public:
  explicit VitTrunkImpl(const VitOptions& options);
  // Patch embedding, class token and the position embedding, resampled when the image's patch
  // grid differs from the checkpoint's. [B, 3, H, W] -> [B, 1 + N, D]
  at::Tensor embed(const at::Tensor& pixels);

  VitOptions options;
  at::Tensor cls_token, pos_embed;
  VitPatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(VitTrunk);

class VitHeadImpl : public torch::nn::Module {
 public:
  explicit VitHeadImpl(const VitOptions& options);
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(VitHead);

struct VitOutput {
  at::Tensor embedding;                   // [B, embed_dim]: head.proj of the final-norm class token
  at::Tensor tokens;                      // [B, 1 + N, width]: after the final norm
  std::vector<at::Tensor> hidden_states;  // depth + 1 of [B, 1 + N, width] when asked, else empty
};

class VitImpl : public torch::nn::Module {
 public:
  explicit VitImpl(const VitOptions& options);
  // pixels [B, 3, H, W], H and W multiples of the patch size, in the module's dtype and device.
  VitOutput forward(const at::Tensor& pixels, bool output_hidden_states = false);
  // One hidden state (HF numbering), running only the blocks it needs: the projector's input.
  // [B, 1 + N, width], or [B, N, width] without the class token.
  at::Tensor hidden_state(const at::Tensor& pixels, int64_t index, bool with_class_token = true);

  VitOptions options;
  VitTrunk trunk{nullptr};
  VitHead head{nullptr};
};
TORCH_MODULE(Vit);

// An open_clip directory (open_clip_config.json + open_clip_pytorch_model.bin or a .safetensors
// file, e.g. `medvqa convert --prefix visual.`): the vision tower with its weights, strictly
// loaded (text-tower keys ignored), in eval mode on `device` in `dtype`.
Vit load_vit(const std::string& dir, const c10::Device& device, c10::ScalarType dtype);

}  // namespace medvqa
