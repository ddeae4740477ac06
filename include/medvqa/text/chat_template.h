// The LLaMA-3 instruct chat template as HF's tokenizer_config.json defines it, tokenized
// directly into ids with a label mask that marks what a fine-tuning loss is computed on.
// Knows nothing of images or batching (src/data expands the image placeholder and pads).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medvqa/text/tokenizer.h"

namespace medvqa {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant" | any other role the model knows
  std::string content;
};

struct ChatOptions {
  // Append "<|start_header_id|>assistant<|end_header_id|>\n\n" so the model answers next.
  bool add_generation_prompt = false;
  // kParse (HF's apply_chat_template) lets a placeholder like <|reserved_special_token_0|> in the
  // content become its id; kPlain keeps user text from closing a turn with a literal <|eot_id|>.
  Specials content_specials = Specials::kParse;
};

struct ChatTokens {
  std::vector<int32_t> ids;
  // 1 on every assistant content token and its <|eot_id|>, 0 elsewhere; same length as ids.
  std::vector<uint8_t> label_mask;
};

// <|begin_of_text|> + per message
// "<|start_header_id|>{role}<|end_header_id|>\n\n{content | trim}<|eot_id|>".
ChatTokens apply_llama3_chat(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                             const ChatOptions& options = {});

// The special tokens the template emits: <|begin_of_text|>, <|start_header_id|>,
// <|end_header_id|>, <|eot_id|> (base LLaMA-3 never trained the last three).
std::vector<int32_t> llama3_chat_special_ids(const Tokenizer& tokenizer);

// Jinja's `trim`: Python's str.strip(), i.e. Unicode whitespace at both ends removed.
std::string_view trim_chat_content(std::string_view content);
// Its end alone (str.rstrip()): content whose start is known not to be whitespace.
std::string_view trim_trailing_chat_content(std::string_view content);

}  // namespace medvqa
