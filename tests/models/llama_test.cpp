// LLaMA decoder pieces that parity tests cannot isolate: llama3 RoPE scaling math, the SDPA mask,
// and that cached / padded / batched computation equals the plain full forward.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "common/tiny_llama.h"
#include "medvqa/models/generation.h"
#include "medvqa/models/llama.h"

namespace medvqa {
namespace {

constexpr double kFp32Tol = 2e-5;     // same math, different op order (cache, masks, batching)
constexpr double kInvFreqRelTol = 1e-6;  // fp32 rounding of theta^x against a double reference

LlamaOptions tiny_options() { return test_util::tiny_llama(61, 32, 48, 2, 4, 2, 12); }

Llama tiny_model(const LlamaOptions& o = tiny_options()) {
  torch::manual_seed(7);
  Llama model(o);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0, 0.3);
  model->eval();
  return model;
}

void expect_close(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  auto diff = (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().flatten();
  const double max = diff.max().item<double>();
  EXPECT_LE(max, tol) << what << ": max abs diff " << max << " at flat index " << diff.argmax().item<int64_t>();
}

at::Tensor ids_tensor(const std::vector<int64_t>& ids) { return torch::tensor(ids, torch::kInt64).unsqueeze(0); }

TEST(RopeInvFreq, UnscaledIsThetaPower) {
  LlamaOptions o = tiny_options();
  auto f = rope_inv_freq(o);
  ASSERT_EQ(f.scalar_type(), torch::kFloat);
  ASSERT_EQ(f.size(0), o.head_dim / 2);
  for (int64_t i = 0; i < o.head_dim / 2; ++i) {
    const double want = std::pow(o.rope_theta, -2.0 * i / o.head_dim);
    EXPECT_NEAR(f[i].item<double>(), want, want * kInvFreqRelTol) << "i=" << i;
  }
}

TEST(RopeInvFreq, Llama3ScalingBands) {
  LlamaOptions o = tiny_options();
  o.head_dim = 128;
  o.rope_theta = 500000;
  o.rope_scaling = RopeScaling{};  // LLaMA-3.1: factor 8, low 1, high 4, original context 8192
  const RopeScaling s = *o.rope_scaling;
  auto f = rope_inv_freq(o);
  int bands[3] = {0, 0, 0};
  for (int64_t i = 0; i < o.head_dim / 2; ++i) {
    const double base = std::pow(o.rope_theta, -2.0 * i / o.head_dim);
    const double wavelen = 2 * M_PI / base;
    double want;
    if (wavelen < s.original_max_position_embeddings / s.high_freq_factor) {
      want = base, ++bands[0];
    } else if (wavelen > s.original_max_position_embeddings / s.low_freq_factor) {
      want = base / s.factor, ++bands[2];
    } else {
      const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      want = (1 - smooth) * base / s.factor + smooth * base, ++bands[1];
    }
    EXPECT_NEAR(f[i].item<double>(), want, want * 1e-5) << "i=" << i << " wavelen " << wavelen;
  }
  // The LLaMA-3.1 values exercise all three bands.
  EXPECT_GT(bands[0], 0);
  EXPECT_GT(bands[1], 0);
  EXPECT_GT(bands[2], 0);
}

TEST(CausalPaddingMask, LeftPaddedPrefill) {
  auto valid = torch::tensor({0, 1, 1, 1, 1, 1}, torch::kBool).view({2, 3});
  auto mask = causal_padding_mask(valid, 0);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{2, 1, 3, 3}));
  // Row 0: the pad query sees only itself; real queries never see the pad.
  auto want0 = torch::tensor({1, 0, 0, 0, 1, 0, 0, 1, 1}, torch::kBool).view({3, 3});
  auto want1 = torch::tensor({1, 0, 0, 1, 1, 0, 1, 1, 1}, torch::kBool).view({3, 3});
  EXPECT_TRUE(torch::equal(mask[0][0], want0)) << mask[0][0];
  EXPECT_TRUE(torch::equal(mask[1][0], want1)) << mask[1][0];
}

TEST(CausalPaddingMask, QueriesAfterCache) {
  // Right padding: slot 1 is a pad between the prompt and two new tokens at slots 2 and 3.
  auto valid = torch::tensor({1, 0, 1, 1}, torch::kBool).view({1, 4});
  auto mask = causal_padding_mask(valid, 2);
  auto want = torch::tensor({1, 0, 1, 0, 1, 0, 1, 1}, torch::kBool).view({2, 4});
  EXPECT_TRUE(torch::equal(mask[0][0], want)) << mask[0][0];
}

TEST(Llama, CachedDecodeEqualsFullForward) {
  Llama model = tiny_model();
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> ids = {3, 17, 42, 5, 9, 60, 0, 33, 21};
  LlamaInput full;
  full.input_ids = ids_tensor(ids);
  auto want = model->forward(full);  // [1, T, V]

  KVCache cache(model->options(), 1, 16, torch::TensorOptions().dtype(torch::kFloat));
  LlamaInput prefill;
  prefill.input_ids = ids_tensor({ids.begin(), ids.begin() + 4});
  std::vector<at::Tensor> got = {model->forward(prefill, &cache)};
  // Two tokens at once after the cache (explicit causal mask), then one at a time.
  LlamaInput chunk;
  chunk.input_ids = ids_tensor({ids[4], ids[5]});
  got.push_back(model->forward(chunk, &cache));
  for (size_t i = 6; i < ids.size(); ++i) {
    LlamaInput step;
    step.input_ids = ids_tensor({ids[i]});
    got.push_back(model->forward(step, &cache));
  }
  EXPECT_EQ(cache.length(), static_cast<int64_t>(ids.size()));
  expect_close(torch::cat(got, 1), want, kFp32Tol, "cached vs full logits");
}

TEST(Llama, AllValidMaskEqualsIsCausal) {
  Llama model = tiny_model();
  torch::NoGradGuard no_grad;
  LlamaInput in;
  in.input_ids = ids_tensor({1, 2, 3, 4, 5});
  auto want = model->forward(in);
  in.attention_mask = torch::ones({1, 5}, torch::kBool);
  expect_close(model->forward(in), want, kFp32Tol, "explicit mask vs is_causal");
}

TEST(Llama, LogitsAtSelectsFlattenedPositions) {
  Llama model = tiny_model();
  torch::NoGradGuard no_grad;
  LlamaInput in;
  in.input_ids = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kInt64).view({2, 3});
  auto all = model->forward(in).view({6, -1});
  in.logits_at = torch::tensor({0, 4, 5}, torch::kInt64);
  expect_close(model->forward(in), all.index_select(0, in.logits_at), kFp32Tol, "logits_at");
}

TEST(Llama, InputsEmbedsEqualInputIds) {
  Llama model = tiny_model();
  torch::NoGradGuard no_grad;
  LlamaInput a, b;
  a.input_ids = ids_tensor({7, 8, 9});
  b.inputs_embeds = model->embed(a.input_ids);
  expect_close(model->forward(b), model->forward(a), 0, "inputs_embeds");
}

TEST(Llama, LeftPaddedBatchEqualsSingleRows) {
  Llama model = tiny_model();
  torch::NoGradGuard no_grad;
  LlamaInput single;
  single.input_ids = ids_tensor({4, 8, 15});
  auto want = model->forward(single);  // [1, 3, V]
  LlamaInput batch;
  batch.input_ids = torch::tensor({0, 0, 4, 8, 15, 16, 23, 42, 1, 2}, torch::kInt64).view({2, 5});
  batch.attention_mask = torch::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, torch::kBool).view({2, 5});
  batch.position_ids = torch::tensor({0, 0, 0, 1, 2, 0, 1, 2, 3, 4}, torch::kInt64).view({2, 5});
  auto got = model->forward(batch);
  expect_close(got[0].slice(0, 2, 5).unsqueeze(0), want, kFp32Tol, "left-padded row");
  EXPECT_FALSE(got.isnan().any().item<bool>());
}

TEST(Generate, GreedyEqualsArgmaxOfFullForwards) {
  Llama model = tiny_model();
  std::vector<int64_t> seq = {9, 8, 7, 6, 5};
  GenerationOptions o;
  o.max_new_tokens = 8;
  auto got = generate(model, {seq}, o).ids[0];
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    LlamaInput in;
    in.input_ids = ids_tensor(seq);
    seq.push_back(model->forward(in)[0][-1].argmax().item<int64_t>());
  }
  EXPECT_EQ(got, std::vector<int64_t>(seq.end() - o.max_new_tokens, seq.end()));
}

TEST(Generate, PaddedBatchesMatchSinglePrompts) {
  Llama model = tiny_model();
  const std::vector<std::vector<int64_t>> prompts = {{5, 6, 7, 8, 9, 10}, {11}, {40, 41, 42}};
  GenerationOptions o;
  o.max_new_tokens = 7;
  std::vector<std::vector<int64_t>> want;
  for (const auto& p : prompts) want.push_back(generate(model, {p}, o).ids[0]);
  for (PaddingSide side : {PaddingSide::kLeft, PaddingSide::kRight}) {
    o.padding = side;
    EXPECT_EQ(generate(model, prompts, o).ids, want) << (side == PaddingSide::kLeft ? "left" : "right");
  }
}

TEST(Generate, StopsOnEosAndStreamsEveryToken) {
  Llama model = tiny_model();
  GenerationOptions o;
  o.max_new_tokens = 6;
  auto free_run = generate(model, {{1, 2, 3}}, o).ids[0];
  ASSERT_EQ(free_run.size(), 6u);
  o.eos_ids = {free_run[2]};
  std::vector<int64_t> streamed;
  auto stopped = generate(model, {{1, 2, 3}}, o, [&](size_t, int64_t id) { streamed.push_back(id); }).ids[0];
  const auto first = std::find(free_run.begin(), free_run.end(), free_run[2]);
  EXPECT_EQ(stopped, std::vector<int64_t>(free_run.begin(), first + 1));
  EXPECT_EQ(streamed, stopped);
}

TEST(ChooseTokens, SamplingIsSeededAndTopKOneIsGreedy) {
  torch::manual_seed(3);
  auto logits = torch::randn({4, 50});
  SamplingOptions s;
  s.greedy = false;
  s.temperature = 0.7;
  s.top_p = 0.9;
  s.seed = 11;
  auto draw = [&](const SamplingOptions& opts) {
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(opts.seed);
    return choose_tokens(logits, opts, g);
  };
  EXPECT_TRUE(torch::equal(draw(s), draw(s)));
  s.top_k = 1;
  SamplingOptions greedy;
  EXPECT_TRUE(torch::equal(draw(s), draw(greedy)));
}

TEST(ChooseTokens, GreedyIsTorchArgmaxTiesAndNaNIncluded) {
  torch::manual_seed(5);
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(0);
  SamplingOptions greedy;
  // bf16 logits tie often; the first maximum wins, as in torch.argmax.
  auto logits = (torch::randn({8, 3000}) * 4).round().to(torch::kBFloat16);
  logits[2].fill_(1.0);
  logits[3][17] = std::numeric_limits<float>::quiet_NaN();
  logits[3][40] = std::numeric_limits<float>::quiet_NaN();
  logits[4].fill_(-std::numeric_limits<float>::infinity());
  const auto want = logits.argmax(-1);
  EXPECT_EQ(want[2].item<int64_t>(), 0);
  EXPECT_EQ(want[3].item<int64_t>(), 17);
  EXPECT_TRUE(torch::equal(choose_tokens(logits, greedy, g), want));
  EXPECT_TRUE(torch::equal(choose_tokens(logits.to(torch::kFloat)[5], greedy, g), want[5]));
}

TEST(ChooseTokens, TopPKeepsOnlyTheNucleus) {
  // Probabilities 0.6, 0.3, 0.1: top_p 0.5 keeps only the first token.
  auto logits = torch::tensor({0.6, 0.3, 0.1}, torch::kFloat).log().unsqueeze(0);
  SamplingOptions s;
  s.greedy = false;
  s.top_p = 0.5;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    s.seed = seed;
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
    EXPECT_EQ(choose_tokens(logits, s, g).item<int64_t>(), 0);
  }
}

}  // namespace
}  // namespace medvqa
