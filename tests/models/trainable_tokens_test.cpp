// Trainable special-token rows: fresh rows change nothing, only the chosen rows train (AdamW
// with weight decay included) while the embedding and LM-head matrices stay bit for bit, and
// tied embeddings are refused.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "common/tiny_llama.h"
#include "medvqa/models/llama.h"

namespace medvqa {
namespace {

const std::vector<int64_t> kRows{3, 7, 40};
// Same values, other summation orders: the trainable columns of the logits come from their own,
// smaller GEMM, and a frozen model's few-row head runs on the streaming kernel while one with a
// trainable (grad-requiring) delta runs on at::linear. A few ulps of logits near 10.
constexpr double kColumnTol = 1e-5;

LlamaOptions tiny(bool tied) {
  LlamaOptions o = test_util::tiny_llama(50, 16, 32, 1, 2, 1, 8);
  o.tie_word_embeddings = tied;
  return o;
}

Llama frozen_model() {
  torch::manual_seed(5);
  Llama model(tiny(false));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    p.normal_(0, 0.5);
    p.set_requires_grad(false);
  }
  return model;
}

TEST(TrainableTokens, FreshRowsChangeNothingAndUsePeftKeys) {
  Llama model = frozen_model();
  LlamaInput in;
  in.input_ids = torch::tensor({{3, 1, 7, 2, 40, 49}}, torch::kInt64);
  at::Tensor before = model->forward(in), embedded = model->embed(in.input_ids);
  model->add_trainable_tokens("embed_tokens", kRows);
  model->add_trainable_tokens("lm_head", kRows);
  EXPECT_TRUE(torch::equal(model->embed(in.input_ids), embedded));
  const double diff = (model->forward(in) - before).abs().max().item<double>();
  EXPECT_LE(diff, kColumnTol) << "max abs logit diff " << diff;
  auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("model.embed_tokens.token_adapter.trainable_tokens_delta"));
  EXPECT_TRUE(params.contains("lm_head.token_adapter.trainable_tokens_delta"));
  EXPECT_EQ(params["lm_head.token_adapter.trainable_tokens_delta"].sizes(), (std::vector<int64_t>{3, 16}));
}

TEST(TrainableTokens, OnlyTheChosenRowsTrainAndTheMatricesStayBitForBit) {
  Llama model = frozen_model();
  model->add_trainable_tokens("embed_tokens", kRows);
  model->add_trainable_tokens("lm_head", kRows);
  at::Tensor embed_before = model->model->embed_tokens->weight.clone();
  at::Tensor head_before = model->lm_head->weight.clone();
  std::vector<at::Tensor> trainable;
  for (auto& p : model->named_parameters())
    if (p.key().find("trainable_tokens_delta") != std::string::npos) trainable.push_back(p.value().set_requires_grad(true));
  ASSERT_EQ(trainable.size(), 2u);
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(0.1).weight_decay(0.5));
  LlamaInput in;
  in.input_ids = torch::tensor({{3, 1, 7, 2, 40, 49}}, torch::kInt64);
  at::Tensor frozen_ids = torch::tensor({{1, 2, 49}}, torch::kInt64);
  at::Tensor frozen_embeds = model->embed(frozen_ids).detach().clone();
  at::Tensor logits_before = model->forward(in).detach().clone();
  for (int i = 0; i < 3; ++i) {
    optimizer.zero_grad();
    model->forward(in).logsumexp(-1).sum().backward();
    optimizer.step();
  }
  EXPECT_TRUE(torch::equal(model->model->embed_tokens->weight, embed_before));
  EXPECT_TRUE(torch::equal(model->lm_head->weight, head_before));
  EXPECT_TRUE(torch::equal(model->embed(frozen_ids), frozen_embeds)) << "a frozen embedding row changed";
  at::Tensor logits = model->forward(in).detach();
  at::Tensor trained_cols = torch::tensor(kRows, torch::kInt64);
  EXPECT_GT((logits.index_select(-1, trained_cols) - logits_before.index_select(-1, trained_cols)).abs().max().item<double>(), 0);
}

TEST(TrainableTokens, TiedEmbeddingsAndBadIdsAreRefused) {
  torch::manual_seed(5);
  Llama tied(tiny(true));
  EXPECT_NE(test_util::error_message([&] { tied->add_trainable_tokens("embed_tokens", kRows); }).find("tie_word_embeddings"),
            std::string::npos);
  Llama model = frozen_model();
  EXPECT_NE(test_util::error_message([&] { model->add_trainable_tokens("embed_tokens", {3, 50}); }).find("outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(test_util::error_message([&] { model->add_trainable_tokens("norm", {3}); }).find("expected embed_tokens or lm_head"),
            std::string::npos);
}

}  // namespace
}  // namespace medvqa
