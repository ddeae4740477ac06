// Continuous batching: a sequence's logits do not depend on what else is in the decode batch, nor
// on when it joined or who left, and a sequence decoded alone gives generate()'s tokens.
#include <gtest/gtest.h>

#include <map>

#include "common/tiny_llama.h"
#include "medvqa/core/error.h"
#include "medvqa/models/decode_batch.h"
#include "medvqa/models/generation.h"

namespace medvqa {
namespace {

constexpr int64_t kNewTokens = 10;

// A tiny LLaMA with grouped-query attention, LoRA on q/v and trainable lm_head rows: every layer
// kind a served model decodes through.
Llama tiny_model(c10::ScalarType dtype) {
  torch::manual_seed(11);
  Llama model(test_util::tiny_llama(67, 32, 48, 2, 4, 2, 8));
  for (auto& layer : *model->model->layers) {
    auto* attention = layer->as<LlamaDecoderLayerImpl>()->self_attn.get();
    attention->q_proj->add_adapter({4, 8, 0, std::nullopt});
    attention->v_proj->add_adapter({4, 8, 0, std::nullopt});
  }
  model->add_trainable_tokens("lm_head", {3, 40});
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0, 0.3);
  model->to(dtype);
  model->eval();
  return model;
}

std::vector<std::vector<int64_t>> prompts() {
  return {{5, 9, 2, 33, 60, 1, 7}, {12, 4, 50}, {8, 8, 19, 27, 3, 44, 61, 2, 9, 14, 30}, {6, 21, 17}, {66, 0, 13, 39}};
}

at::Tensor embeds(Llama& model, const std::vector<int64_t>& prompt) {
  c10::InferenceMode inference;
  return model->model->embed_tokens(torch::tensor(prompt, torch::kInt64).unsqueeze(0));
}

int64_t greedy(const at::Tensor& logits) { return logits.to(torch::kFloat).argmax().item<int64_t>(); }

// Each sequence's logits per step, in a batch where sequences join on the schedule `joins`
// (prompt index -> the step before which it joins) and leave after `lengths[p]` tokens.
std::vector<std::vector<at::Tensor>> decode(Llama& model, int64_t max_batch, const std::map<int, int>& joins,
                                            const std::vector<int64_t>& lengths) {
  const auto all = prompts();
  DecodeBatch batch(model, max_batch, 32);
  std::vector<std::vector<at::Tensor>> logits(all.size());
  std::map<int64_t, int> prompt_of;  // sequence id -> prompt index
  std::map<int64_t, int64_t> last;   // sequence id -> its last token
  auto take = [&](int64_t id, const at::Tensor& l) {
    const int p = prompt_of.at(id);
    logits[p].push_back(l.clone());
    last[id] = greedy(l);
    return static_cast<int64_t>(logits[p].size()) == lengths[p];
  };
  for (int step = 0; batch.size() > 0 || step <= joins.rbegin()->first; ++step) {
    for (const auto& [p, at_step] : joins) {
      if (at_step != step) continue;
      auto [id, l] = batch.add(embeds(model, all[p]));
      prompt_of[id] = p;
      if (take(id, l)) batch.remove(id);
    }
    if (batch.size() == 0) continue;
    std::vector<int64_t> tokens;
    for (int64_t id : batch.ids()) tokens.push_back(last.at(id));
    const std::vector<int64_t> ids = batch.ids();
    at::Tensor l = batch.step(tokens);
    for (size_t r = 0; r < ids.size(); ++r)
      if (take(ids[r], l[r])) batch.remove(ids[r]);
  }
  return logits;
}

class DecodeBatchTest : public ::testing::TestWithParam<c10::ScalarType> {};

TEST_P(DecodeBatchTest, LogitsDoNotDependOnTheBatch) {
  Llama model = tiny_model(GetParam());
  const std::vector<int64_t> lengths = {kNewTokens, 4, kNewTokens, 7, kNewTokens};
  // Alone: one sequence at a time.
  std::vector<std::vector<at::Tensor>> alone(prompts().size());
  for (int p = 0; p < static_cast<int>(alone.size()); ++p) alone[p] = decode(model, 1, {{p, 0}}, lengths)[p];
  // Together: 0 and 1 join at once (rows at one length only if their prompts match: they do not),
  // 2 and 3 join while others run, 1 and 3 leave early so 4 takes a freed row, which moves rows.
  const auto together = decode(model, 4, {{0, 0}, {1, 0}, {2, 2}, {3, 3}, {4, 5}}, lengths);
  for (size_t p = 0; p < alone.size(); ++p) {
    ASSERT_EQ(together[p].size(), alone[p].size()) << "prompt " << p;
    for (size_t t = 0; t < alone[p].size(); ++t)
      EXPECT_TRUE(torch::equal(together[p][t], alone[p][t]))
          << "prompt " << p << " token " << t << ": max abs diff "
          << (together[p][t].to(torch::kDouble) - alone[p][t].to(torch::kDouble)).abs().max().item<double>();
  }
}

TEST_P(DecodeBatchTest, RowsAtOneLengthDecodeTogetherAsAlone) {
  Llama model = tiny_model(GetParam());
  // Two prompts of the same length joining at once: their rows stay at one length (batched attention).
  const std::vector<int64_t> lengths = {kNewTokens, kNewTokens, kNewTokens, kNewTokens, kNewTokens};
  const auto alone = decode(model, 1, {{3, 0}}, lengths)[3];
  const auto together = decode(model, 2, {{1, 0}, {3, 0}}, lengths)[3];
  ASSERT_EQ(together.size(), alone.size());
  for (size_t t = 0; t < alone.size(); ++t) EXPECT_TRUE(torch::equal(together[t], alone[t])) << "token " << t;
}

TEST_P(DecodeBatchTest, AloneGivesGeneratesGreedyTokens) {
  Llama model = tiny_model(GetParam());
  GenerationOptions options;
  options.max_new_tokens = kNewTokens;
  const std::vector<int64_t> lengths(prompts().size(), kNewTokens);
  for (int p = 0; p < static_cast<int>(prompts().size()); ++p) {
    const auto want = generate(model, {prompts()[p]}, options).ids[0];
    const auto logits = decode(model, 1, {{p, 0}}, lengths)[p];
    std::vector<int64_t> got;
    for (const at::Tensor& l : logits) got.push_back(greedy(l));
    EXPECT_EQ(got, want) << "prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DecodeBatchTest, ::testing::Values(torch::kFloat, torch::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(DecodeBatch, RefusesWhatDoesNotFit) {
  Llama model = tiny_model(torch::kFloat);
  DecodeBatch batch(model, 1, 8);
  EXPECT_THROW(batch.add(embeds(model, std::vector<int64_t>(8, 1))), Error);  // no room to answer
  auto [id, logits] = batch.add(embeds(model, {1, 2, 3}));
  EXPECT_THROW(batch.add(embeds(model, {4})), Error);  // every row taken
  EXPECT_THROW(batch.step({1, 2}), Error);             // a token per running sequence
  for (int i = 0; i < 5; ++i) batch.step({1});         // 3 + 5 = capacity
  EXPECT_THROW(batch.step({1}), Error);
  batch.remove(id);
  EXPECT_THROW(batch.remove(id), Error);
  EXPECT_EQ(batch.size(), 0);
}

}  // namespace
}  // namespace medvqa
