// The prefix-based score's token layout on the real LLaMA-3 tokenizer, and its batched losses on
// a tiny random VQA model (image path): equal to the model's own training loss (VqaModel::loss)
// run on one sequence at a time. tests/parity/test_eval.py checks the text-only path against
// transformers.
#include "medvqa/eval/prefix_score.h"

#include <gtest/gtest.h>

#include "common/tiny_vqa.h"
#include "text/test_tokenizer.h"

namespace medvqa {
namespace {

constexpr double kFp32Tol = 2e-5;  // same math, different batching and padding
constexpr int64_t kImageToken = 60, kPad = 59;

TEST(PrefixScore, LayoutIsBosImageThenPromptAndOption) {
  const Tokenizer& tok = testing::llama3();
  auto seqs = prefix_sequences(tok, "What modality is this?", {"CT scan", "MRI"}, 128002, 3, 7);
  ASSERT_EQ(seqs.size(), 2u);
  const std::string prompt = "Question: What modality is this? The answer is";
  EXPECT_EQ(prefix_prompt("What modality is this?"), prompt);
  for (size_t k = 0; k < 2; ++k) {
    const auto& s = seqs[k];
    EXPECT_EQ(s.image, 7u);
    EXPECT_EQ(s.ids[0], 128000);  // <|begin_of_text|>
    EXPECT_EQ(std::vector<int64_t>(s.ids.begin() + 1, s.ids.begin() + 4), std::vector<int64_t>(3, 128002));
    auto text = tok.encode(prompt + (k == 0 ? " CT scan." : " MRI."), Specials::kPlain);
    EXPECT_EQ(std::vector<int64_t>(s.ids.begin() + 4, s.ids.end()), std::vector<int64_t>(text.begin(), text.end()));
    std::vector<int32_t> option(s.ids.begin() + static_cast<std::ptrdiff_t>(s.option_begin), s.ids.end());
    EXPECT_EQ(tok.decode(option), k == 0 ? " CT scan." : " MRI.");
  }
  // Text only: no image placeholders.
  auto text_only = prefix_sequences(tok, "Q?", {"yes"}, 128002, 0, 0);
  EXPECT_EQ(text_only[0].ids[1], tok.encode("Question", Specials::kPlain)[0]);
}

TEST(PrefixScore, ChoiceIsTheLowestLossFirstOnTies) {
  EXPECT_EQ(prefix_choice({2.0, 0.5, 0.7}), 1);
  EXPECT_EQ(prefix_choice({0.5, 0.9, 0.5}), 0);
  EXPECT_EQ(prefix_choice({}), -1);
}

VqaModel tiny_model() { return test_util::tiny_vqa(kImageToken); }

PrefixSequence sequence(std::vector<int64_t> text, size_t option_tokens, size_t image, int64_t image_tokens) {
  PrefixSequence s;
  s.ids = {1};
  s.ids.insert(s.ids.end(), static_cast<size_t>(image_tokens), kImageToken);
  s.ids.insert(s.ids.end(), text.begin(), text.end());
  s.option_begin = s.ids.size() - option_tokens;
  s.image = image;
  return s;
}

TEST(PrefixScore, BatchedImageLossesEqualTheModelLossOfEachSequence) {
  VqaModel model = tiny_model();
  const int64_t n = model->image_tokens();
  at::Tensor pixels = torch::randn({2, 3, 32, 32});
  torch::NoGradGuard no_grad;
  at::Tensor features = model->image_features(pixels);
  // Different lengths (padding), options of one or several tokens, two images interleaved.
  std::vector<PrefixSequence> seqs = {sequence({5, 6, 7, 8, 9}, 2, 0, n), sequence({5, 6, 7, 10}, 1, 1, n),
                                      sequence({5, 6, 7, 11, 12, 13, 14}, 4, 0, n), sequence({3, 4, 20}, 1, 1, n),
                                      sequence({3, 4, 21, 22}, 2, 1, n)};
  for (int64_t batch : {1, 2, 5}) {
    std::vector<double> got = option_losses(model, seqs, features, kPad, batch);
    ASSERT_EQ(got.size(), seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const auto& s = seqs[i];
      at::Tensor ids = torch::tensor(s.ids, torch::kInt64).unsqueeze(0);
      at::Tensor labels = torch::full_like(ids, -100);
      const auto begin = static_cast<int64_t>(s.option_begin);
      labels.narrow(1, begin, ids.size(1) - begin).copy_(ids.narrow(1, begin, ids.size(1) - begin));
      LossSum want = model->loss(model->loss_batch(ids, torch::ones_like(ids, torch::kBool), labels,
                                                   pixels.narrow(0, static_cast<int64_t>(s.image), 1), torch::kCPU));
      const double expected = want.sum.item<double>() / static_cast<double>(want.tokens);
      EXPECT_NEAR(got[i], expected, kFp32Tol) << "sequence " << i << ", batch " << batch << ": diff "
                                               << std::abs(got[i] - expected);
    }
  }
}

TEST(PrefixScore, TextOnlyLossesIgnoreTheImage) {
  VqaModel model = tiny_model();
  torch::NoGradGuard no_grad;
  std::vector<PrefixSequence> seqs = {sequence({5, 6, 7, 8}, 2, 0, 0), sequence({5, 6, 9}, 1, 0, 0)};
  std::vector<double> got = option_losses(model, seqs, at::Tensor(), kPad, 2);
  for (size_t i = 0; i < seqs.size(); ++i) {
    at::Tensor ids = torch::tensor(seqs[i].ids, torch::kInt64).unsqueeze(0);
    LlamaInput in;
    in.input_ids = ids;
    at::Tensor logits = model->llm->forward(in).squeeze(0);  // [T, vocab]
    const auto begin = static_cast<int64_t>(seqs[i].option_begin), T = ids.size(1);
    at::Tensor want = torch::nn::functional::cross_entropy(logits.narrow(0, begin - 1, T - begin),
                                                           ids[0].narrow(0, begin, T - begin));
    EXPECT_NEAR(got[i], want.item<double>(), kFp32Tol) << "sequence " << i;
  }
}

}  // namespace
}  // namespace medvqa
