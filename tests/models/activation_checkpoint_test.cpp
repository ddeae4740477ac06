// Activation checkpointing changes memory, not math: the loss and every trainable gradient of a
// LoRA LLaMA (dropout on, padding mask on) equal those without it, and the RNG stream the caller
// sees afterwards is the same.
#include <gtest/gtest.h>

#include <malloc.h>

#include <chrono>

#include "common/tiny_llama.h"
#include "medvqa/core/autocast.h"
#include "medvqa/models/llama.h"
#include "medvqa/models/peft_adapter.h"

namespace medvqa {
namespace {

// Same ops in the same order on the same inputs (the recomputation replays the forward's RNG and
// autocast state); only the graph differs, and each gradient is accumulated in the same order:
// the results are bit-identical, which is what BENCHMARKS.md claims.
constexpr double kCheckpointTol = 0;

LlamaOptions small_options() { return test_util::tiny_llama(97, 32, 64, 3, 4, 2, 8); }

Llama lora_model(double dropout, const LlamaOptions& options = small_options()) {
  torch::manual_seed(3);
  Llama model(options);
  AdapterConfig adapter;
  adapter.lora = {4, 8, dropout, std::nullopt};
  adapter.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  add_lora(*model, adapter);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    p.normal_(0, 0.3);
    p.set_requires_grad(false);
  }
  for (auto& [name, layer] : lora_layers(*model)) {
    layer->lora_A->weight.set_requires_grad(true);
    layer->lora_B->weight.set_requires_grad(true);
  }
  return model;
}

struct StepResult {
  double loss = 0;
  std::vector<std::pair<std::string, at::Tensor>> grads;  // every trainable parameter, then the input
  at::Tensor rng_after;                                  // the caller's next random numbers
  double seconds = 0;
};

StepResult step(double dropout, bool checkpointing, bool autocast) {
  Llama model = lora_model(dropout);
  model->gradient_checkpointing = checkpointing;
  model->train();
  torch::manual_seed(11);
  at::Tensor embeds = torch::randn({2, 9, 32}).requires_grad_(true);  // stands in for the projector's output
  LlamaInput in;
  in.inputs_embeds = embeds;
  in.attention_mask = torch::ones({2, 9}, torch::kBool);
  in.attention_mask.index_put_({1, torch::indexing::Slice(6)}, false);
  at::Tensor weights = torch::randn({2, 9, 97});
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor loss;
  {
    // Backward runs outside the scope, as in the trainer: the recomputation must restore it.
    AutocastGuard guard(c10::kCPU, autocast, c10::kBFloat16);
    loss = (model->forward(in).to(torch::kFloat) * weights).sum();
  }
  loss.backward();
  StepResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.loss = loss.item<double>();
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) r.grads.emplace_back(p.key(), p.value().grad());
  r.grads.emplace_back("inputs_embeds", embeds.grad());
  r.rng_after = torch::rand({8});
  return r;
}

void expect_same_step(double dropout, bool autocast = false) {
  StepResult plain = step(dropout, false, autocast), recomputed = step(dropout, true, autocast);
  EXPECT_EQ(recomputed.loss, plain.loss);
  ASSERT_EQ(plain.grads.size(), recomputed.grads.size());
  double worst = 0;
  std::string where;
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    const auto& [name, want] = plain.grads[i];
    const at::Tensor& got = recomputed.grads[i].second;
    ASSERT_TRUE(want.defined() && got.defined()) << name << ": no gradient";
    EXPECT_GT(want.abs().max().item<double>(), 0) << name << ": zero gradient, the test would prove nothing";
    EXPECT_TRUE(torch::equal(got, want)) << name << ": not bit-identical";
    // Relative to the gradient's scale (printed): the loss is a weighted sum of logits, not a mean.
    double d = (got - want).abs().max().item<double>() / std::max(1.0, want.abs().max().item<double>());
    if (d > worst) worst = d, where = name;
  }
  std::cout << "dropout " << dropout << (autocast ? ", bf16 autocast" : "") << ": loss " << plain.loss << " vs " << recomputed.loss
            << ", max gradient diff (relative to the largest entry) " << worst << " (" << (where.empty() ? "-" : where) << "), step "
            << plain.seconds * 1e3 << " ms plain, " << recomputed.seconds * 1e3 << " ms recomputed\n";
  EXPECT_LE(worst, kCheckpointTol) << "max relative gradient diff at " << where;
  EXPECT_TRUE(torch::equal(plain.rng_after, recomputed.rng_after)) << "checkpointing changed the caller's RNG stream";
}

size_t heap_bytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // small-block and mmapped allocations in use
}

// What the graph holds between forward and backward (the memory checkpointing saves) and the
// cost in time, on a config where activations dominate. Prints the numbers for BENCHMARKS.md.
struct Held {
  double mib = 0, seconds = 0;
};
Held held_between_forward_and_backward(bool checkpointing) {
  LlamaOptions o = small_options();
  o.hidden_size = 256, o.intermediate_size = 1024, o.num_hidden_layers = 4, o.head_dim = 64, o.vocab_size = 512;
  Llama model = lora_model(0.05, o);
  model->gradient_checkpointing = checkpointing;
  model->train();
  at::Tensor embeds = torch::randn({4, 256, o.hidden_size}).requires_grad_(true);
  LlamaInput in;
  in.inputs_embeds = embeds;
  in.logits_at = torch::arange(0, 4 * 256, 64);  // a few label positions, as in training
  auto t0 = std::chrono::steady_clock::now();
  const size_t before = heap_bytes();
  at::Tensor loss = model->forward(in).logsumexp(-1).sum();
  Held h;
  h.mib = (static_cast<double>(heap_bytes()) - static_cast<double>(before)) / (1 << 20);
  loss.backward();
  h.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return h;
}

TEST(ActivationCheckpoint, HoldsLessMemoryBetweenForwardAndBackward) {
  held_between_forward_and_backward(false);  // warm-up: thread pools, first-touch allocations
  Held plain = held_between_forward_and_backward(false), recomputed = held_between_forward_and_backward(true);
  std::cout << "4 layers, hidden 256, 4 x 256 tokens: held " << plain.mib << " MiB plain, " << recomputed.mib
            << " MiB checkpointed; forward + backward " << plain.seconds * 1e3 << " ms plain, "
            << recomputed.seconds * 1e3 << " ms checkpointed\n";
  EXPECT_LT(recomputed.mib, plain.mib / 4);
}

TEST(ActivationCheckpoint, SameLossAndGradientsWithoutDropout) { expect_same_step(0.0); }

TEST(ActivationCheckpoint, SameLossAndGradientsWithLoraDropout) { expect_same_step(0.3); }

TEST(ActivationCheckpoint, SameLossAndGradientsUnderBf16Autocast) { expect_same_step(0.3, true); }

}  // namespace
}  // namespace medvqa
