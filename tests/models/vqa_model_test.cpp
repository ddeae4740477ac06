// VqaModel's training loss inputs: a right-padded batch runs without an attention mask (causal
// attention alone, so that SDPA may take its flash kernels) and gives the loss and gradients of the
// masked path bit for bit; a batch padded elsewhere keeps its mask; the placeholder count is checked on the host.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "common/tiny_vqa.h"
#include "medvqa/models/peft_adapter.h"

namespace medvqa {
namespace {

constexpr int64_t kImageToken = 60, kPad = 59;
// Bit for bit on the CPU: the masked path adds exp(-inf) = 0 for every key the causal-only path
// skips, so each sum takes the same values in the same order. (Relative to each gradient's largest
// magnitude, to print a scale if it ever differs.)
constexpr double kRelTol = 0;

struct Rows {
  at::Tensor ids, mask, labels;
};

// Rows of 1 + 4 placeholders + text, padded to the longest; the last `label` tokens of each are labels.
Rows batch(const std::vector<std::vector<int64_t>>& texts, int64_t label, bool left_pad) {
  size_t longest = 0;
  for (const auto& t : texts) longest = std::max(longest, t.size() + 5);
  const auto B = static_cast<int64_t>(texts.size()), T = static_cast<int64_t>(longest);
  Rows r{torch::full({B, T}, kPad, torch::kInt64), torch::zeros({B, T}, torch::kBool), torch::full({B, T}, -100, torch::kInt64)};
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> row{1, kImageToken, kImageToken, kImageToken, kImageToken};
    row.insert(row.end(), texts[static_cast<size_t>(b)].begin(), texts[static_cast<size_t>(b)].end());
    const auto n = static_cast<int64_t>(row.size()), start = left_pad ? T - n : 0;
    r.ids[b].narrow(0, start, n).copy_(torch::tensor(row, torch::kInt64));
    r.mask[b].narrow(0, start, n).fill_(true);
    r.labels[b].narrow(0, start + n - label, label).copy_(r.ids[b].narrow(0, start + n - label, label));
  }
  return r;
}

VqaModel trainable_model() {
  VqaModel model = test_util::tiny_vqa(kImageToken);
  AdapterConfig adapter;
  adapter.lora = {4, 8, 0, std::nullopt};
  adapter.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  add_lora(*model->llm, adapter);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  for (auto& [name, layer] : lora_layers(*model->llm)) {
    layer->lora_B->weight.normal_(0, 0.3);  // B = 0 would leave A without a gradient
    layer->lora_A->weight.set_requires_grad(true);
    layer->lora_B->weight.set_requires_grad(true);
  }
  for (auto& p : model->projector->parameters()) p.set_requires_grad(true);
  model->train();
  model->vision->eval();
  return model;
}

struct Result {
  double loss;
  std::vector<std::pair<std::string, at::Tensor>> grads;
};

Result run(VqaModel& model, const LossBatch& b) {
  model->zero_grad();
  LossSum l = model->loss(b);
  (l.sum / static_cast<double>(l.tokens)).backward();
  Result r{l.sum.item<double>(), {}};
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) r.grads.emplace_back(p.key(), p.value().grad().clone());
  return r;
}

TEST(VqaModelLoss, ARightPaddedBatchRunsWithoutAMaskAndEqualsTheMaskedPath) {
  VqaModel model = trainable_model();
  Rows r = batch({{5, 6, 7, 8, 9, 10, 11}, {12, 13, 14}, {15, 16, 17, 18, 19}}, 3, false);
  at::Tensor pixels = torch::randn({3, 3, 32, 32});
  LossBatch causal = model->loss_batch(r.ids, r.mask, r.labels, pixels, torch::kCPU);
  EXPECT_FALSE(causal.attention_mask.defined()) << "a right-padded batch needs no mask";
  EXPECT_EQ(causal.tokens, 9);  // 3 labels per row
  LossBatch masked = causal;
  masked.attention_mask = r.mask;
  Result a = run(model, causal), b = run(model, masked);
  EXPECT_NEAR(a.loss, b.loss, kRelTol * std::abs(b.loss));
  ASSERT_EQ(a.grads.size(), b.grads.size());
  ASSERT_GT(a.grads.size(), 20u);
  for (size_t i = 0; i < a.grads.size(); ++i) {
    const double scale = b.grads[i].second.abs().max().item<double>();
    ASSERT_GT(scale, 0) << b.grads[i].first << " has no gradient";
    const double diff = (a.grads[i].second - b.grads[i].second).abs().max().item<double>();
    EXPECT_LE(diff, kRelTol * scale) << a.grads[i].first << ": max abs diff " << diff << " of " << scale << " at "
                                     << (a.grads[i].second - b.grads[i].second).abs().argmax().item<int64_t>();
  }
}

TEST(VqaModelLoss, ABatchPaddedOnTheLeftKeepsItsMask) {
  VqaModel model = trainable_model();
  Rows r = batch({{5, 6, 7, 8}, {12, 13}}, 2, true);
  LossBatch b = model->loss_batch(r.ids, r.mask, r.labels, torch::randn({2, 3, 32, 32}), torch::kCPU);
  ASSERT_TRUE(b.attention_mask.defined());
  EXPECT_TRUE(torch::equal(b.attention_mask, r.mask));
  // The label positions are the flat positions whose next token is a label, in row order.
  const int64_t T = r.ids.size(1);
  EXPECT_EQ(std::vector<int64_t>(b.label_positions.data_ptr<int64_t>(), b.label_positions.data_ptr<int64_t>() + 4),
            (std::vector<int64_t>{T - 3, T - 2, 2 * T - 3, 2 * T - 2}));
  EXPECT_EQ(std::vector<int64_t>(b.targets.data_ptr<int64_t>(), b.targets.data_ptr<int64_t>() + 4),
            (std::vector<int64_t>{7, 8, 12, 13}));
}

TEST(VqaModelLoss, AWrongPlaceholderCountIsNamedBeforeTheForward) {
  VqaModel model = trainable_model();
  Rows r = batch({{5, 6, 7}}, 1, false);
  r.ids[0][2] = 5;  // one placeholder fewer
  EXPECT_NE(test_util::error_message([&] { model->loss_batch(r.ids, r.mask, r.labels, torch::randn({1, 3, 32, 32}), torch::kCPU); })
                .find("each prompt must hold 4 image placeholder tokens (id 60)"),
            std::string::npos);
}

}  // namespace
}  // namespace medvqa
