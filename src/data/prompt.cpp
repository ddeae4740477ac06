#include "medvqa/data/prompt.h"

#include <algorithm>

#include "medvqa/core/error.h"
#include "medvqa/text/chat_template.h"

namespace medvqa {
namespace {

// Python's repr() of a str, enough for option texts: single quotes unless the text holds a ' and
// no ", backslash and the chosen quote escaped.
std::string py_repr(const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == '\\' || c == q) out += '\\';
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + q;
}

// Index of the first user-content token: after <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n.
size_t user_content_start(const std::vector<int32_t>& ids, const Tokenizer& tokenizer) {
  auto end_header = tokenizer.id_of("<|end_header_id|>");
  MEDVQA_CHECK(end_header, "prompt: the tokenizer has no <|end_header_id|> (not a LLaMA-3 tokenizer)");
  auto it = std::find(ids.begin(), ids.end(), *end_header);
  MEDVQA_CHECK(it != ids.end() && it + 1 != ids.end(), "prompt: unexpected chat template output");
  return static_cast<size_t>(it - ids.begin()) + 2;  // the header's "\n\n" is one token
}

}  // namespace

std::string question_text(const VqaItem& item, const std::string& question_form) {
  if (question_form != "closed" || item.options.empty()) return item.question;
  std::string list = "[";
  for (size_t i = 0; i < item.options.size(); ++i) list += (i ? ", " : "") + py_repr(item.options[i]);
  return item.question + " Here are " + std::to_string(item.options.size()) + " candidate answers: " + list +
         "] Only return what you think is the correct answer from the candidate answers, do not return any other "
         "irrelevant text!";
}

Sample build_sample(const Tokenizer& tokenizer, const VqaItem& item, const PromptOptions& options, bool with_answer) {
  std::vector<ChatMessage> messages{{"user", question_text(item, options.question_form)}};
  if (with_answer) messages.push_back({"assistant", item.gt_answer});
  ChatOptions chat;
  chat.add_generation_prompt = !with_answer;
  chat.content_specials = Specials::kPlain;  // dataset text never injects control tokens
  ChatTokens t = apply_llama3_chat(tokenizer, messages, chat);

  size_t start = user_content_start(t.ids, tokenizer);
  auto eot = tokenizer.eot_id();
  size_t question_end = static_cast<size_t>(std::find(t.ids.begin() + start, t.ids.end(), *eot) - t.ids.begin());
  std::vector<int32_t> newline = tokenizer.encode("\n", Specials::kPlain);
  size_t fixed = t.ids.size() - (question_end - start) + options.image_tokens + newline.size();
  MEDVQA_CHECK(static_cast<int64_t>(fixed) < options.max_seq_len, item.source, ": does not fit data.max_seq_len=",
               options.max_seq_len, " even with the question dropped (", fixed, " tokens of image, template and answer)");
  size_t keep = std::min(question_end - start, static_cast<size_t>(options.max_seq_len) - fixed);

  Sample s;
  auto push = [&](int64_t id, bool label) {
    s.ids.push_back(id);
    if (with_answer) s.labels.push_back(label ? id : kIgnoreIndex);
  };
  for (size_t i = 0; i < start; ++i) push(t.ids[i], t.label_mask[i]);
  for (int64_t i = 0; i < options.image_tokens; ++i) push(options.image_token_id, false);
  for (int32_t id : newline) push(id, false);
  for (size_t i = start; i < start + keep; ++i) push(t.ids[i], false);
  for (size_t i = question_end; i < t.ids.size(); ++i) push(t.ids[i], t.label_mask[i]);
  return s;
}

}  // namespace medvqa
