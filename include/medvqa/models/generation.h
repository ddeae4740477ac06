// Text generation with a Llama and its KV cache: batched prompts (left or right padded), greedy or
// sampled (temperature, top-k, top-p, seeded), stopping on any eos id. Works on token ids only;
// turning text into ids and back is text/'s business.
#pragma once

#include <functional>
#include <vector>

#include "medvqa/models/llama.h"

namespace medvqa {

enum class PaddingSide { kLeft, kRight };

struct SamplingOptions {
  bool greedy = true;
  double temperature = 1.0;
  int64_t top_k = 0;   // 0 = off
  double top_p = 1.0;  // 1 = off
  uint64_t seed = 0;
};

struct GenerationOptions {
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<int64_t> eos_ids;  // a row stops after emitting any of these (kept in its output)
  PaddingSide padding = PaddingSide::kLeft;
  int64_t pad_id = 0;  // the id written into padding slots; never attended to
  // Prompt ids [B, T] (padded, on the model's device) -> inputs_embeds [B, T, hidden] for the
  // prefill, e.g. with image features spliced in; empty = the token embeddings.
  std::function<at::Tensor(const at::Tensor&)> prefill_embed;
};

struct GenerationTiming {
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prefill_tokens = 0;  // real (unpadded) prompt tokens
  int64_t decode_tokens = 0;   // tokens produced by decode steps, all rows
};

struct GenerationResult {
  std::vector<std::vector<int64_t>> ids;  // per prompt, the generated ids
  GenerationTiming timing;
};

// Called for each new token of each still-running row, as it is produced (streaming).
using TokenCallback = std::function<void(size_t row, int64_t id)>;

// Next-token choice from logits [B, vocab] (any dtype): argmax, or HF's processor order
// temperature -> top-k -> top-p, then a draw from `generator` (on the CPU, so a seed gives the
// same tokens on every device). Returns int64 [B] on the CPU.
at::Tensor choose_tokens(const at::Tensor& logits, const SamplingOptions& options, at::Generator& generator);

GenerationResult generate(Llama& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& options, const TokenCallback& on_token = {});

}  // namespace medvqa
