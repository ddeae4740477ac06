#include "medvqa/run/model_tokenizer.h"

#include "medvqa/text/chat_template.h"

namespace medvqa {

std::unique_ptr<Tokenizer> load_model_tokenizer(const ModelConfig& config) {
  return load_tokenizer(config.tokenizer.empty() ? config.llm : config.tokenizer);
}

std::vector<int64_t> special_rows(const ModelConfig& config, const Tokenizer& tokenizer) {
  std::vector<int64_t> ids;
  if (!config.train_special_rows) return ids;
  for (int32_t id : llama3_chat_special_ids(tokenizer)) ids.push_back(id);
  return ids;
}

}  // namespace medvqa
