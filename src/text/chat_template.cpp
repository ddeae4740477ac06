#include "medvqa/text/chat_template.h"

#include <array>

#include "medvqa/core/error.h"

namespace medvqa {

namespace {

// The code points Python's str.isspace() accepts, as UTF-8.
constexpr std::array<std::string_view, 29> kPythonWhitespace = {
    "\t",           "\n",           "\v",           "\f",           "\r",           "\x1c",
    "\x1d",         "\x1e",         "\x1f",         " ",            "\xC2\x85",     "\xC2\xA0",
    "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84",
    "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A",
    "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80"};

size_t whitespace_prefix(std::string_view text) {
  for (const auto ws : kPythonWhitespace)
    if (text.substr(0, ws.size()) == ws) return ws.size();
  return 0;
}

size_t whitespace_suffix(std::string_view text) {
  for (const auto ws : kPythonWhitespace)
    if (text.size() >= ws.size() && text.substr(text.size() - ws.size()) == ws) return ws.size();
  return 0;
}

int32_t required_special(const Tokenizer& tokenizer, std::string_view name) {
  const auto id = tokenizer.id_of(name);
  MEDVQA_CHECK(id, "chat template: the LLaMA-3 template needs the special token ", name, ", which ",
               tokenizer.describe(), " does not have");
  return *id;
}

struct ChatSpecials {
  int32_t bos, start_header, end_header, eot;
};

// Every special token the template emits (image placeholders and padding are the data's).
ChatSpecials chat_specials(const Tokenizer& tokenizer) {
  return {required_special(tokenizer, "<|begin_of_text|>"), required_special(tokenizer, "<|start_header_id|>"),
          required_special(tokenizer, "<|end_header_id|>"), required_special(tokenizer, "<|eot_id|>")};
}

}  // namespace

std::vector<int32_t> llama3_chat_special_ids(const Tokenizer& tokenizer) {
  const ChatSpecials s = chat_specials(tokenizer);
  return {s.bos, s.start_header, s.end_header, s.eot};
}

std::string_view trim_trailing_chat_content(std::string_view content) {
  while (size_t n = whitespace_suffix(content)) content.remove_suffix(n);
  return content;
}

std::string_view trim_chat_content(std::string_view content) {
  while (size_t n = whitespace_prefix(content)) content.remove_prefix(n);
  return trim_trailing_chat_content(content);
}

ChatTokens apply_llama3_chat(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                             const ChatOptions& options) {
  MEDVQA_CHECK(!messages.empty(), "chat template: no messages");
  const ChatSpecials special = chat_specials(tokenizer);
  ChatTokens out;
  auto append = [&](const std::vector<int32_t>& ids, bool label) {
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.label_mask.insert(out.label_mask.end(), ids.size(), label ? 1 : 0);
  };
  // Specials split the rendered text into segments that tokenize independently, so tokenizing
  // piece by piece gives the ids of the whole string. "\n\n" stays its own piece before trimmed
  // content, which therefore tokenizes as it would alone.
  auto header = [&](const std::string& role) {
    append({special.start_header}, false);
    append(tokenizer.encode(role, Specials::kPlain), false);
    append({special.end_header}, false);
    append(tokenizer.encode("\n\n", Specials::kPlain), false);
  };
  append({special.bos}, false);
  for (const auto& m : messages) {
    const bool answer = m.role == "assistant";
    header(m.role);
    append(tokenizer.encode(trim_chat_content(m.content), options.content_specials), answer);
    append({special.eot}, answer);
  }
  if (options.add_generation_prompt) header("assistant");
  return out;
}

}  // namespace medvqa
