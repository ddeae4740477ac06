#include "medvqa/models/generation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "medvqa/core/clock.h"
#include "medvqa/core/error.h"

namespace medvqa {

namespace {


// torch.argmax's choice, the first index of each row's maximum (NaN counting as the maximum). On
// the CPU it is found from the row maxima that at::amax computes vectorised and in parallel, where
// at::argmax over a 128k vocabulary runs on one thread and costs a visible share of a decode step
// (BENCHMARKS.md). On a GPU at::argmax is fast, and only the ids come back.
at::Tensor greedy_tokens(const at::Tensor& logits) {
  if (!logits.device().is_cpu()) return logits.argmax(-1).to(torch::kCPU);
  const at::Tensor l = logits.to(torch::kFloat).contiguous().view({-1, logits.size(-1)});
  const at::Tensor top = l.amax(-1);
  const int64_t V = l.size(1);
  at::Tensor out = at::empty({l.size(0)}, torch::kInt64);
  for (int64_t b = 0; b < l.size(0); ++b) {
    const float* row = l.const_data_ptr<float>() + b * V;
    const float m = top.const_data_ptr<float>()[b];
    const float* first = std::isnan(m) ? std::find_if(row, row + V, [](float v) { return std::isnan(v); })
                                       : std::find(row, row + V, m);
    out.mutable_data_ptr<int64_t>()[b] = first - row;
  }
  return out.view(logits.sizes().slice(0, logits.dim() - 1));
}

}  // namespace

at::Tensor choose_tokens(const at::Tensor& logits, const SamplingOptions& o, at::Generator& generator) {
  if (o.greedy) return greedy_tokens(logits);
  MEDVQA_CHECK(o.temperature > 0, "generate: temperature must be > 0 (use greedy decoding for 0), got ", o.temperature);
  MEDVQA_CHECK(o.top_p > 0 && o.top_p <= 1, "generate: top_p must be in (0, 1], got ", o.top_p);
  MEDVQA_CHECK(o.top_k >= 0, "generate: top_k must be >= 0, got ", o.top_k);
  const double kMasked = -std::numeric_limits<double>::infinity();
  auto l = logits.to(torch::kCPU, torch::kFloat) / o.temperature;  // [B, V]
  const int64_t V = l.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    auto kth = std::get<0>(l.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);  // [B, 1]
    l = l.masked_fill(l < kth, kMasked);
  }
  if (o.top_p < 1) {
    // HF's TopPLogitsWarper: drop the low tail whose mass is at most 1 - top_p, keep the top token.
    auto [sorted, order] = l.sort(-1, /*descending=*/false);
    auto drop = sorted.softmax(-1).cumsum(-1) <= (1 - o.top_p);  // [B, V] in ascending order
    drop.narrow(-1, V - 1, 1).fill_(false);
    l = l.masked_fill(drop.scatter(-1, order, drop), kMasked);
  }
  return at::multinomial(l.softmax(-1), 1, false, generator).squeeze(-1);
}

GenerationResult generate(Llama& model, const std::vector<std::vector<int64_t>>& prompts, const GenerationOptions& o,
                          const TokenCallback& on_token) {
  c10::InferenceMode inference;
  const LlamaOptions& lo = model->options();
  const int64_t B = static_cast<int64_t>(prompts.size());
  MEDVQA_CHECK(B > 0, "generate: no prompt");
  MEDVQA_CHECK(o.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0");
  int64_t T = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    MEDVQA_CHECK(!prompts[b].empty(), "generate: prompt ", b, " is empty");
    for (size_t i = 0; i < prompts[b].size(); ++i)
      MEDVQA_CHECK(prompts[b][i] >= 0 && prompts[b][i] < lo.vocab_size, "generate: id ", prompts[b][i], " at position ",
                   i, " of prompt ", b, " is outside the vocabulary [0, ", lo.vocab_size, ")");
    T = std::max<int64_t>(T, static_cast<int64_t>(prompts[b].size()));
  }
  GenerationResult result;
  result.ids.resize(B);
  if (o.max_new_tokens == 0) return result;

  const at::Tensor weight = model->model->embed_tokens->weight;
  auto ids = torch::full({B, T}, o.pad_id, torch::kInt64);
  auto valid = torch::zeros({B, T}, torch::kBool);
  auto positions = torch::zeros({B, T}, torch::kInt64);
  auto last = torch::empty({B}, torch::kInt64);  // flattened index of each row's last real token
  auto lengths = torch::empty({B, 1}, torch::kInt64);
  bool padded = false;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = static_cast<int64_t>(prompts[b].size());
    const int64_t offset = o.padding == PaddingSide::kLeft ? T - n : 0;
    padded = padded || n != T;
    ids[b].narrow(0, offset, n).copy_(torch::tensor(prompts[b], torch::kInt64));
    valid[b].narrow(0, offset, n).fill_(true);
    positions[b].narrow(0, offset, n).copy_(torch::arange(n, torch::kInt64));
    last[b] = b * T + offset + n - 1;
    lengths[b][0] = n;
    result.timing.prefill_tokens += n;
  }
  const auto device = weight.device();
  KVCache cache(lo, B, T + o.max_new_tokens, weight.options());
  LlamaInput in;
  if (o.prefill_embed)
    in.inputs_embeds = o.prefill_embed(ids.to(device));
  else
    in.input_ids = ids.to(device);
  in.position_ids = positions.to(device);
  // Right padding leaves pads between a prompt and its continuation, so it needs the mask for
  // the whole generation; left padding too (pads sit at the start of every key row).
  at::Tensor key_valid = valid.to(device);  // [B, S]
  if (padded) in.attention_mask = key_valid;
  in.logits_at = last.to(device);

  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.sampling.seed);
  std::vector<bool> done(B, false);
  int64_t running = B;
  auto start = std::chrono::steady_clock::now();
  at::Tensor next = choose_tokens(model->forward(in, &cache), o.sampling, generator);  // [B] on the CPU
  result.timing.prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (int64_t step = 0;; ++step) {
    auto chosen = next.accessor<int64_t, 1>();
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      result.ids[b].push_back(chosen[b]);
      if (on_token) on_token(static_cast<size_t>(b), chosen[b]);
      if (std::find(o.eos_ids.begin(), o.eos_ids.end(), chosen[b]) != o.eos_ids.end()) {
        done[b] = true;
        --running;
      }
    }
    if (running == 0 || step + 1 == o.max_new_tokens) break;
    // Finished rows keep decoding their last token; their outputs are dropped.
    in.inputs_embeds = at::Tensor();
    in.input_ids = next.view({B, 1}).to(device);
    in.position_ids = (lengths + step).to(device);  // the fed token was emitted at step `step`
    if (padded) {
      key_valid = torch::cat({key_valid, torch::ones({B, 1}, key_valid.options())}, 1);
      in.attention_mask = key_valid;
    }
    in.logits_at = at::Tensor();
    next = choose_tokens(model->forward(in, &cache).select(1, 0), o.sampling, generator);  // [B, 1, V] -> [B]
    result.timing.decode_tokens += B;
  }
  result.timing.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace medvqa
