// OmniMedVQA's prefix-based score (docs/scoring.md): each option, appended as " {option}." to
// "Question: {question} The answer is", is scored by the model's mean cross-entropy over the
// option's tokens; the lowest loss wins. Owns the token layout and the batched losses; not the
// text scorers (scorers.h) nor the aggregation (metrics.h).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "medvqa/models/vqa_model.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

// "Question: {question} The answer is"
std::string prefix_prompt(const std::string& question);

struct PrefixSequence {
  std::vector<int64_t> ids;  // [bos] [image placeholder x N] prompt tokens, then the option's tokens
  size_t option_begin = 0;   // ids[option_begin..] are the option's tokens: the loss targets
  size_t image = 0;          // row of the pixels / features this sequence is about
};

// One sequence per option. The option's tokens are those of tokenize(prompt + " {option}.") past
// the length of tokenize(prompt), as OmniMedVQA's script slices them. image_tokens = 0: text only.
std::vector<PrefixSequence> prefix_sequences(const Tokenizer& tokenizer, const std::string& question,
                                             const std::vector<std::string>& options, int64_t image_token_id,
                                             int64_t image_tokens, size_t image);

// Mean cross-entropy of each sequence's option tokens, at most batch_size sequences per forward
// (right-padded with pad_id). features: [I, N, hidden] projected image features indexed by
// PrefixSequence::image; undefined for text-only sequences.
std::vector<double> option_losses(VqaModel& model, const std::vector<PrefixSequence>& sequences,
                                  const at::Tensor& features, int64_t pad_id, int64_t batch_size);

// The index of the lowest loss, the first of equal ones (OmniMedVQA takes the argmax of
// softmax(1 / loss), the same choice for positive losses); -1 when there are none.
int prefix_choice(const std::vector<double>& losses);

}  // namespace medvqa
