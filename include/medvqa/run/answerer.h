// A trained model ready to answer questions about images, shared by `eval`, `ask` and `serve`: its
// tokenizer, weights and stop ids, the prompt and image settings of its config, and batched
// answering with the image features spliced in at prefill. Not here: datasets, scoring, files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/data/batch.h"
#include "medvqa/data/dataset.h"
#include "medvqa/data/prompt.h"
#include "medvqa/models/decode_batch.h"
#include "medvqa/models/generation.h"
#include "medvqa/models/registry.h"
#include "medvqa/text/tokenizer.h"
#include "medvqa/vision/transform.h"

namespace medvqa {

class Answerer {
 public:
  // Loads the tokenizer and the weights (build_model for inference) of config.model.
  explicit Answerer(const Config& config);

  // The generation prompt of one question exactly as training built it (chat template, image
  // placeholders, data.question_form with the options given and data.max_seq_len; `truncated` says
  // whether the question was cut to fit); `source` names it in errors. Thread-safe.
  Sample prompt(const std::string& question, const std::vector<std::string>& options, const std::string& source) const;
  // The projected features [B, N, hidden] of pixels [B, 3, H, W] on the model's device; blind
  // zeroes them (the blind baseline).
  at::Tensor image_features(const at::Tensor& pixels, bool blind = false);
  // Greedy answers of at most max_new_tokens to prompts [B] (left padded) with image features
  // [B, N, hidden] spliced in at prefill. on_token sees every id as it is chosen.
  GenerationResult generate(const std::vector<std::vector<int64_t>>& prompts, const at::Tensor& features,
                            int64_t max_new_tokens, const TokenCallback& on_token = {});
  // A prompt's inputs_embeds [1, T, hidden] with one image's features [1, N, hidden] spliced in.
  at::Tensor prompt_embeds(const std::vector<int64_t>& prompt, const at::Tensor& features);
  // A continuous batch over the model's decoder: max_batch sequences of up to `capacity` tokens.
  DecodeBatch decode_batch(int64_t max_batch, int64_t capacity);
  // The answer's text: trailing stop ids dropped, invalid UTF-8 replaced by U+FFFD.
  std::string text(std::vector<int64_t> ids) const;
  bool is_stop(int64_t id) const;
  // The ids that end an answer: the model's eos ids and the tokenizer's stop ids.
  const std::vector<int64_t>& stop_ids() const { return stop_ids_; }

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const PromptOptions& prompt_options() const { return prompt_; }
  VqaModel& model() { return built_.model; }

 private:
  Config config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  BuiltModel built_;
  std::vector<int64_t> stop_ids_;
  PromptOptions prompt_;
};

}  // namespace medvqa
