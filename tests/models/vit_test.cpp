// The ViT's option parsing (timm names, open_clip_config.json) and hidden-state numbering on a tiny
// random model. Numerical parity with timm/open_clip is tests/parity/test_vit.py's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medvqa/core/error.h"
#include "medvqa/models/vit.h"

namespace medvqa {
namespace {

constexpr double kExactTolerance = 0.0;  // the same ops on the same input: bit-identical
constexpr double kFp32Tolerance = 1e-5;

void expect_close(const at::Tensor& got, const at::Tensor& want, double tolerance) {
  ASSERT_EQ(got.sizes(), want.sizes());
  const at::Tensor diff = (got - want).abs().flatten();
  const int64_t where = diff.argmax().item<int64_t>();
  EXPECT_LE(diff[where].item<double>(), tolerance) << "max abs diff " << diff[where].item<double>()
                                                   << " at flat index " << where;
}

std::string expect_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no medvqa::Error thrown";
  return "";
}

TEST(VitOptions, TimmNames) {
  const VitOptions base = vit_options_from_timm_name("vit_base_patch16_224");
  EXPECT_EQ(base.width, 768);
  EXPECT_EQ(base.depth, 12);
  EXPECT_EQ(base.heads, 12);
  EXPECT_EQ(base.mlp_dim, 3072);
  EXPECT_EQ(base.patch_size, 16);
  EXPECT_EQ(base.image_size, 224);
  EXPECT_EQ(base.num_tokens(), 197);

  const VitOptions large = vit_options_from_timm_name("vit_large_patch32_384.orig_in21k_ft_in1k");
  EXPECT_EQ(large.width, 1024);
  EXPECT_EQ(large.depth, 24);
  EXPECT_EQ(large.heads, 16);
  EXPECT_EQ(large.patch_size, 32);
  EXPECT_EQ(large.image_size, 384);

  const VitOptions tiny = vit_options_from_timm_name("vit_tiny_patch16_224");
  EXPECT_EQ(tiny.width, 192);
  EXPECT_EQ(tiny.heads, 3);
  EXPECT_EQ(vit_options_from_timm_name("vit_small_patch16_224").width, 384);

  EXPECT_NE(expect_error([] { vit_options_from_timm_name("convnext_base"); }).find("not a supported ViT"),
            std::string::npos);
  EXPECT_NE(expect_error([] { vit_options_from_timm_name("vit_huge_patch14_224"); }).find("unknown size 'huge'"),
            std::string::npos);
}

TEST(VitOptions, BiomedClipConfig) {
  // REFERENCE.md's BiomedCLIP open_clip_config.json.
  const std::string config = R"({"model_cfg": {"embed_dim": 512, "vision_cfg": {"timm_model_name":
      "vit_base_patch16_224", "timm_model_pretrained": false, "timm_pool": "", "timm_proj": "linear",
      "image_size": 224}, "text_cfg": {"hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"}},
      "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073]}})";
  const VitOptions options = parse_open_clip_vision_config(config, "biomedclip");
  EXPECT_EQ(options.width, 768);
  EXPECT_EQ(options.embed_dim, 512);
  EXPECT_FALSE(options.proj_bias);
  EXPECT_EQ(options.norm_eps, 1e-6);
}

TEST(VitOptions, TimmModelKwargsOverrideTheName) {
  const std::string config = R"({"model_cfg": {"embed_dim": 32, "vision_cfg": {"timm_model_name":
      "vit_base_patch16_224", "timm_pool": "", "timm_proj": "linear", "timm_model_kwargs":
      {"embed_dim": 64, "depth": 3, "num_heads": 4, "patch_size": 8, "img_size": 64, "mlp_ratio": 2.5}}}})";
  const VitOptions options = parse_open_clip_vision_config(config, "tiny");
  EXPECT_EQ(options.width, 64);
  EXPECT_EQ(options.depth, 3);
  EXPECT_EQ(options.heads, 4);
  EXPECT_EQ(options.patch_size, 8);
  EXPECT_EQ(options.image_size, 64);
  EXPECT_EQ(options.mlp_dim, 160);
  EXPECT_EQ(options.embed_dim, 32);
}

TEST(VitOptions, EveryProblemReportedAtOnce) {
  const std::string config = R"({"model_cfg": {"embed_dim": 512, "vision_cfg": {"timm_model_name":
      "vit_base_patch16_224", "timm_pool": "avg", "timm_proj": "mlp", "timm_model_kwargs":
      {"depth": "three", "class_token": false, "num_heads": 5}}}})";
  const std::string message = expect_error([&] { parse_open_clip_vision_config(config, "bad.json"); });
  for (const char* fragment :
       {"bad.json: key \"model_cfg.vision_cfg.timm_pool\": \"avg\" is not supported",
        "bad.json: key \"model_cfg.vision_cfg.timm_proj\": \"mlp\" is not supported",
        "bad.json: key \"model_cfg.vision_cfg.timm_model_kwargs.depth\": expected a positive integer, found a string",
        "bad.json: key \"model_cfg.vision_cfg.timm_model_kwargs.class_token\": not supported",
        "bad.json: width 768 is not divisible by 5 heads"})
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " not in: " << message;

  EXPECT_NE(expect_error([] { parse_open_clip_vision_config(R"({"model_cfg": {"vision_cfg": {"layers": 12}}})", "x"); })
                .find("x: key \"model_cfg.vision_cfg.timm_model_name\": missing"),
            std::string::npos);
  EXPECT_NE(expect_error([] { parse_open_clip_vision_config(R"({"model_cfg": []})", "x"); })
                .find("x: key \"model_cfg\": expected an object, found an array"),
            std::string::npos);
  EXPECT_NE(expect_error([] { parse_open_clip_vision_config("{not json", "x"); }).find("invalid JSON"),
            std::string::npos);
}

TEST(VitHiddenStates, HfNumbering) {
  EXPECT_EQ(resolve_hidden_state_index(0, 12), 0);
  EXPECT_EQ(resolve_hidden_state_index(12, 12), 12);
  EXPECT_EQ(resolve_hidden_state_index(-1, 12), 12);
  EXPECT_EQ(resolve_hidden_state_index(-2, 12), 11);
  EXPECT_EQ(resolve_hidden_state_index(-13, 12), 0);
  EXPECT_NE(expect_error([] { resolve_hidden_state_index(13, 12); }).find("valid: -13..12"), std::string::npos);
  EXPECT_THROW(resolve_hidden_state_index(-14, 12), Error);
}

class TinyVit : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    options.image_size = 32;
    options.patch_size = 8;
    options.width = 16;
    options.depth = 3;
    options.heads = 2;
    options.mlp_dim = 32;
    options.embed_dim = 8;
    vit = Vit(options);
    vit->eval();
    pixels = torch::randn({2, 3, 32, 32});
  }
  VitOptions options;
  Vit vit{nullptr};
  at::Tensor pixels;
  torch::NoGradGuard no_grad;
};

TEST_F(TinyVit, HiddenStatesFollowTheBlocks) {
  const VitOutput out = vit->forward(pixels, true);
  ASSERT_EQ(out.hidden_states.size(), 4u);
  EXPECT_EQ(out.tokens.sizes(), (std::vector<int64_t>{2, 17, 16}));
  EXPECT_EQ(out.embedding.sizes(), (std::vector<int64_t>{2, 8}));
  // 0 = the embeddings; i = block i-1 applied to state i-1.
  expect_close(out.hidden_states[0], vit->trunk->embed(pixels), kExactTolerance);
  for (int64_t i = 1; i <= options.depth; ++i)
    expect_close(out.hidden_states[i], vit->trunk->blocks[i - 1]->as<VitBlock>()->forward(out.hidden_states[i - 1]),
                 kExactTolerance);
  expect_close(out.tokens, vit->trunk->norm->forward(out.hidden_states[3]), kExactTolerance);
  expect_close(out.embedding, vit->head->proj->forward(out.tokens.select(1, 0)), kExactTolerance);
  EXPECT_FALSE(out.hidden_states[2].equal(out.hidden_states[3]));

  for (int64_t index : {0, 1, -1, -2, -4}) {
    const at::Tensor want = out.hidden_states[resolve_hidden_state_index(index, options.depth)];
    expect_close(vit->hidden_state(pixels, index), want, kExactTolerance);
    expect_close(vit->hidden_state(pixels, index, false), want.slice(1, 1), kExactTolerance);
  }
  EXPECT_EQ(vit->hidden_state(pixels, -2, false).sizes(), (std::vector<int64_t>{2, 16, 16}));
  EXPECT_TRUE(vit->forward(pixels).hidden_states.empty());
}

TEST_F(TinyVit, AttentionMatchesTheExplicitSoftmax) {
  const at::Tensor x = torch::randn({2, 5, 16});
  auto& attn = *vit->trunk->blocks[0]->as<VitBlock>()->attn;
  auto qkv = attn.qkv->forward(x).view({2, 5, 3, 2, 8}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, Dh]
  const at::Tensor weights = torch::softmax(qkv[0].matmul(qkv[1].transpose(-2, -1)) / std::sqrt(8.0), -1);
  const at::Tensor want = attn.proj->forward(weights.matmul(qkv[2]).transpose(1, 2).reshape({2, 5, 16}));
  expect_close(attn.forward(x), want, kFp32Tolerance);
}

TEST_F(TinyVit, OtherImageSizesResampleThePositionEmbedding) {
  // A 48x40 image has a 6x5 patch grid: 31 tokens, and the class token's position is not resampled.
  const VitOutput out = vit->forward(torch::randn({1, 3, 48, 40}), true);
  EXPECT_EQ(out.tokens.sizes(), (std::vector<int64_t>{1, 31, 16}));
  // At the checkpoint's own size the position embedding is added as it is.
  const at::Tensor patches = vit->trunk->patch_embed->proj->forward(pixels).flatten(2).transpose(1, 2);
  expect_close(vit->trunk->embed(pixels).slice(1, 1), patches + vit->trunk->pos_embed.slice(1, 1), kExactTolerance);
  EXPECT_NE(expect_error([&] { vit->forward(torch::randn({1, 3, 30, 32})); }).find("not a multiple of the patch size 8"),
            std::string::npos);
}

TEST_F(TinyVit, ModuleNamesAreTheOpenClipKeys) {
  std::vector<std::string> names;
  for (const auto& p : vit->named_parameters()) names.push_back(p.key());
  for (const char* key : {"trunk.cls_token", "trunk.pos_embed", "trunk.patch_embed.proj.weight",
                          "trunk.blocks.2.attn.qkv.bias", "trunk.blocks.0.mlp.fc2.weight", "trunk.norm.bias",
                          "head.proj.weight"})
    EXPECT_NE(std::find(names.begin(), names.end(), key), names.end()) << key;
  EXPECT_EQ(std::find(names.begin(), names.end(), "head.proj.bias"), names.end());
  // 4 (trunk) + 12 per block x 3 + 2 (norm) + 1 (head)
  EXPECT_EQ(names.size(), 4u + 36u + 2u + 1u);
}

}  // namespace
}  // namespace medvqa
