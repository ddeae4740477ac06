#include "medvqa/models/vit.h"

#include <torch/torch.h>

#include <filesystem>
#include <regex>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/io/state_dict.h"
#include "medvqa/io/tensor_store.h"

namespace medvqa {

namespace F = torch::nn::functional;
namespace fs = std::filesystem;

namespace {

constexpr const char* kConfigFile = "open_clip_config.json";
constexpr const char* kSupportedNames = "vit_{tiny,small,base,large}_patch<P>_<S>, e.g. vit_base_patch16_224";

struct TimmSize {
  const char* name;
  int64_t width, depth, heads;
};
// timm's vision_transformer.py model_args for these names.
constexpr TimmSize kTimmSizes[] = {
    {"tiny", 192, 12, 3}, {"small", 384, 12, 6}, {"base", 768, 12, 12}, {"large", 1024, 24, 16}};

}  // namespace

VitOptions vit_options_from_timm_name(const std::string& name) {
  // timm accepts a pretrained tag after a dot (vit_base_patch16_224.augreg_in21k); it names weights, not sizes.
  static const std::regex pattern(R"(vit_([a-z]+)_patch(\d+)_(\d+))");
  std::smatch m;
  const std::string arch = name.substr(0, name.find('.'));
  MEDVQA_CHECK(std::regex_match(arch, m, pattern), "timm_model_name '", name, "' is not a supported ViT (",
               kSupportedNames, ")");
  VitOptions options;
  const TimmSize* size = nullptr;
  for (const auto& s : kTimmSizes)
    if (m[1] == s.name) size = &s;
  MEDVQA_CHECK(size, "timm_model_name '", name, "': unknown size '", m[1].str(), "' (", kSupportedNames, ")");
  options.width = size->width;
  options.depth = size->depth;
  options.heads = size->heads;
  options.mlp_dim = 4 * size->width;
  options.patch_size = std::stoll(m[2]);
  options.image_size = std::stoll(m[3]);
  MEDVQA_CHECK(options.patch_size > 0 && options.image_size % options.patch_size == 0, "timm_model_name '", name,
               "': image size ", options.image_size, " is not a multiple of the patch size ", options.patch_size);
  return options;
}

namespace {

// The vision tower of a parsed open_clip_config.json; `where` names it in errors.
VitOptions open_clip_vision_options(const JsonValue& config, const std::string& where) {
  Problems problems;
  const JsonObject root(config, where, &problems);
  const std::optional<JsonObject> model = root.object("model_cfg");
  const std::optional<JsonObject> vision = model ? model->object("vision_cfg") : std::nullopt;
  if (vision && !vision->has("timm_model_name"))
    vision->fail("timm_model_name", "missing; medvqa runs timm ViT towers (BiomedCLIP's vit_base_patch16_224), not "
                                    "open_clip's own VisionTransformer");
  const std::optional<std::string> name = vision ? vision->string("timm_model_name", Presence::kOptional) : std::nullopt;
  problems.throw_if_any("not an open_clip vision tower");
  VitOptions options = vit_options_from_timm_name(*name);

  if (auto embed_dim = model->positive_int("embed_dim", Presence::kOptional)) options.embed_dim = *embed_dim;
  // open_clip leaves the trunk's classifier pooling ("" keeps ViT's class token) and adds a linear head.
  // An absent key is open_clip's default; a wrongly typed one is reported by the getter alone.
  const std::string pool = vision->has("timm_pool") ? vision->string("timm_pool").value_or("") : "avg";
  if (pool != "" && pool != "token")
    vision->fail("timm_pool", "\"" + pool + "\" is not supported (expected \"\" or \"token\")");
  const std::string proj = vision->has("timm_proj") ? vision->string("timm_proj").value_or("linear") : "linear";
  if (proj != "linear") vision->fail("timm_proj", "\"" + proj + "\" is not supported (expected \"linear\")");
  options.proj_bias = vision->boolean("timm_proj_bias", Presence::kOptional).value_or(false);

  // The keyword arguments open_clip hands to timm.create_model override the name's sizes.
  if (const auto kwargs = vision->object("timm_model_kwargs", Presence::kOptional)) {
    for (const auto& [key, value] : kwargs->value().items()) {
      if (key == "embed_dim" || key == "depth" || key == "num_heads" || key == "patch_size" || key == "img_size" ||
          key == "mlp_ratio")
        continue;
      kwargs->fail(key, "not supported (embed_dim, depth, num_heads, patch_size, img_size, mlp_ratio)");
    }
    const int64_t old_width = options.width;
    auto read = [&](const char* key, int64_t& out) {
      if (auto v = kwargs->positive_int(key, Presence::kOptional)) out = *v;
    };
    read("embed_dim", options.width);
    read("depth", options.depth);
    read("num_heads", options.heads);
    read("patch_size", options.patch_size);
    read("img_size", options.image_size);
    const double mlp_ratio = kwargs->positive_number("mlp_ratio", Presence::kOptional)
                                 .value_or(static_cast<double>(options.mlp_dim) / old_width);
    options.mlp_dim = static_cast<int64_t>(options.width * mlp_ratio);  // timm: int(embed_dim * mlp_ratio)
  }
  if (options.width % options.heads != 0)
    root.fail("width " + std::to_string(options.width) + " is not divisible by " + std::to_string(options.heads) +
              " heads");
  if (options.image_size % options.patch_size != 0)
    root.fail("image size " + std::to_string(options.image_size) + " is not a multiple of the patch size " +
              std::to_string(options.patch_size));
  problems.throw_if_any("unsupported vision tower");
  return options;
}

}  // namespace

VitOptions parse_open_clip_vision_config(const std::string& json_text, const std::string& where) {
  return open_clip_vision_options(parse_json(json_text, where), where);
}

VitOptions read_vit_config(const std::string& dir) {
  MEDVQA_CHECK(fs::is_directory(dir), dir, ": no such directory (expected an open_clip directory such as BiomedCLIP's)");
  const fs::path path = fs::path(dir) / kConfigFile;
  if (!fs::exists(path)) {
    std::string hint;
    if (fs::exists(fs::path(dir) / "config.json"))
      hint = "; it has a config.json, so it looks like a Hugging Face model (e.g. the LLaMA), not BiomedCLIP";
    MEDVQA_FAIL(dir, ": no ", kConfigFile, " (expected an open_clip directory such as BiomedCLIP's: ", kConfigFile,
                " + open_clip_pytorch_model.bin or a .safetensors file)", hint);
  }
  return open_clip_vision_options(read_json_file(path.string()), path.string());
}

int64_t resolve_hidden_state_index(int64_t index, int64_t depth) {
  const int64_t resolved = index < 0 ? depth + 1 + index : index;
  MEDVQA_CHECK(resolved >= 0 && resolved <= depth, "vit: hidden state ", index, " out of range for ", depth,
               " blocks (valid: ", -(depth + 1), "..", depth, ")");
  return resolved;
}

VitAttentionImpl::VitAttentionImpl(int64_t width, int64_t heads) : heads(heads) {
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  proj = register_module("proj", torch::nn::Linear(width, width));
}

at::Tensor VitAttentionImpl::forward(const at::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2);
  // q, k, v stacked along the output features, as timm's qkv weight is.
  auto qkv_heads = qkv->forward(x).view({b, t, 3, heads, d / heads}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, Dh]
  at::Tensor out = at::scaled_dot_product_attention(qkv_heads[0], qkv_heads[1], qkv_heads[2]);  // [B, H, T, Dh]
  return proj->forward(out.transpose(1, 2).reshape({b, t, d}));
}

VitMlpImpl::VitMlpImpl(int64_t width, int64_t mlp_dim) {
  fc1 = register_module("fc1", torch::nn::Linear(width, mlp_dim));
  fc2 = register_module("fc2", torch::nn::Linear(mlp_dim, width));
}

at::Tensor VitMlpImpl::forward(const at::Tensor& x) { return fc2->forward(at::gelu(fc1->forward(x))); }

VitBlockImpl::VitBlockImpl(const VitOptions& options) {
  auto norm = torch::nn::LayerNormOptions({options.width}).eps(options.norm_eps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(norm));
  attn = register_module("attn", VitAttention(options.width, options.heads));
  norm2 = register_module("norm2", torch::nn::LayerNorm(norm));
  mlp = register_module("mlp", VitMlp(options.width, options.mlp_dim));
}

at::Tensor VitBlockImpl::forward(const at::Tensor& x) {
  at::Tensor h = x + attn->forward(norm1->forward(x));
  return h + mlp->forward(norm2->forward(h));
}

VitPatchEmbedImpl::VitPatchEmbedImpl(const VitOptions& options) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, options.width, options.patch_size)
                                                       .stride(options.patch_size)));
}

VitTrunkImpl::VitTrunkImpl(const VitOptions& options) : options(options) {
  // timm initialises both with std 0.02 (trunc normal); checkpoints overwrite them anyway.
  cls_token = register_parameter("cls_token", torch::randn({1, 1, options.width}) * 0.02);
  pos_embed = register_parameter("pos_embed", torch::randn({1, options.num_tokens(), options.width}) * 0.02);
  patch_embed = register_module("patch_embed", VitPatchEmbed(options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.depth; ++i) blocks->push_back(VitBlock(options));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.width}).eps(options.norm_eps)));
}

at::Tensor VitTrunkImpl::embed(const at::Tensor& pixels) {
  MEDVQA_CHECK(pixels.dim() == 4 && pixels.size(1) == 3, "vit: expected pixels [B, 3, H, W], got ", pixels.sizes());
  const int64_t p = options.patch_size;
  MEDVQA_CHECK(pixels.size(2) % p == 0 && pixels.size(3) % p == 0, "vit: image size ", pixels.size(2), "x",
               pixels.size(3), " is not a multiple of the patch size ", p);
  const int64_t b = pixels.size(0), gh = pixels.size(2) / p, gw = pixels.size(3) / p;
  at::Tensor x = patch_embed->proj->forward(pixels).flatten(2).transpose(1, 2);  // [B, N, D]
  x = at::cat({cls_token.expand({b, -1, -1}), x}, 1);                           // [B, 1 + N, D]
  at::Tensor pos = pos_embed;
  if (gh != options.grid() || gw != options.grid()) {
    // timm's resample_abs_pos_embed: the patch positions as a grid, bicubic with antialiasing, in fp32.
    const int64_t d = options.width;
    at::Tensor grid = pos_embed.slice(1, 1).to(at::kFloat).reshape({1, options.grid(), options.grid(), d}).permute({0, 3, 1, 2});
    grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{gh, gw})
                                    .mode(torch::kBicubic)
                                    .align_corners(false)
                                    .antialias(true));
    grid = grid.permute({0, 2, 3, 1}).reshape({1, gh * gw, d}).to(pos_embed.scalar_type());  // [1, N, D]
    pos = at::cat({pos_embed.slice(1, 0, 1), grid}, 1);
  }
  return x + pos;
}

VitHeadImpl::VitHeadImpl(const VitOptions& options) {
  proj = register_module(
      "proj", torch::nn::Linear(torch::nn::LinearOptions(options.width, options.embed_dim).bias(options.proj_bias)));
}

VitImpl::VitImpl(const VitOptions& options) : options(options) {
  trunk = register_module("trunk", VitTrunk(options));
  head = register_module("head", VitHead(options));
}

VitOutput VitImpl::forward(const at::Tensor& pixels, bool output_hidden_states) {
  VitOutput out;
  at::Tensor x = trunk->embed(pixels);
  if (output_hidden_states) out.hidden_states.push_back(x);
  for (const auto& block : *trunk->blocks) {
    x = block->as<VitBlock>()->forward(x);
    if (output_hidden_states) out.hidden_states.push_back(x);
  }
  out.tokens = trunk->norm->forward(x);
  out.embedding = head->proj->forward(out.tokens.select(1, 0));  // [B, E]
  return out;
}

at::Tensor VitImpl::hidden_state(const at::Tensor& pixels, int64_t index, bool with_class_token) {
  const int64_t blocks = resolve_hidden_state_index(index, options.depth);
  at::Tensor x = trunk->embed(pixels);
  for (int64_t i = 0; i < blocks; ++i) x = trunk->blocks[i]->as<VitBlock>()->forward(x);
  return with_class_token ? x : x.slice(1, 1);
}

Vit load_vit(const std::string& dir, const c10::Device& device, c10::ScalarType dtype) {
  const VitOptions options = read_vit_config(dir);
  const TensorStore store = TensorStore::open(dir);
  // A store without the tower would otherwise report every tensor missing; say what it is instead.
  bool has_trunk = false;
  for (const auto& t : store.tensors()) has_trunk = has_trunk || t.name.rfind("visual.trunk.", 0) == 0;
  if (!has_trunk) {
    std::string example = store.tensors().empty() ? "none" : "'" + store.tensors().front().name + "'";
    MEDVQA_FAIL(store.path(), ": no vision tower tensors (visual.trunk.*; found ", store.tensors().size(),
                " tensors, e.g. ", example, "): expected an open_clip checkpoint with a timm ViT image tower such as "
                "BiomedCLIP's open_clip_pytorch_model.bin");
  }
  torch::NoGradGuard no_grad;
  Vit vit(options);
  LoadOptions load;
  load.prefix = "visual.";
  load.ignore = {"text.", "logit_scale"};  // the text tower of the same checkpoint
  load_state_dict(*vit, store, load);
  vit->to(device, dtype);
  vit->eval();
  log_info("vit: loaded ", dir, " (width ", options.width, ", depth ", options.depth, ", heads ", options.heads,
           ", patch ", options.patch_size, ", image ", options.image_size, ", embed ", options.embed_dim, ") on ",
           device.str(), " as ", dtype_name(dtype));
  return vit;
}

}  // namespace medvqa
