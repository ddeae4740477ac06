// One VQA item as token ids: the LLaMA-3 chat template with the image placeholder expanded to N
// copies of one reserved id at the start of the user turn, labels -100 except the answer and its
// <|eot_id|>. Only the question's own text is ever truncated to fit max_seq_len, never the options
// of the closed form nor the answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/data/vqa_item.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

constexpr int64_t kIgnoreIndex = -100;

struct PromptOptions {
  int64_t image_token_id = 128002;
  int64_t image_tokens = 196;  // N: follows from the vision tower and the feature selection
  std::string question_form = "open";  // "closed" lists the options as OmniMedVQA's QA protocol does
  int64_t max_seq_len = 512;
};

struct Sample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;  // same length; empty for generation prompts
  bool truncated = false;       // the question was cut to fit max_seq_len

  int64_t label_count() const;  // the tokens the loss is computed on (labels != kIgnoreIndex)
};

// Training sample (with the answer) or generation prompt (ending with the assistant header), the ids
// HF's apply_chat_template gives for the user content placeholders x N + "\n" + question_text with
// Meta's LLaMA-3 Instruct template (tests/parity/test_prompt_oracle.py). Throws Error naming
// item.source when it cannot fit even with the question cut to its first token.
Sample build_sample(const Tokenizer& tokenizer, const VqaItem& item, const PromptOptions& options, bool with_answer);
// The user's text: the question, or in closed form the question with OmniMedVQA's candidate list.
std::string question_text(const VqaItem& item, const std::string& question_form);

}  // namespace medvqa
