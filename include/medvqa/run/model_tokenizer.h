// The tokenizer of a model config: model.tokenizer, or the one in the LLM's directory; and the
// token rows model.train_special_rows trains. Used by train (before the model is built) and by
// the Answerer.
#pragma once

#include <memory>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

std::unique_ptr<Tokenizer> load_model_tokenizer(const ModelConfig& config);
// The chat template's special tokens when model.train_special_rows is set, else none.
std::vector<int64_t> special_rows(const ModelConfig& config, const Tokenizer& tokenizer);

}  // namespace medvqa
