#include "medvqa/data/prompt.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>

#include "medvqa/core/error.h"
#include "medvqa/text/chat_template.h"

namespace medvqa {
namespace {

// Python's str.isprintable() for one code point: everything but the categories Other (Cc, Cf, Cs,
// Co, Cn) and Separator (Zl, Zp, Zs), with the ASCII space printable.
bool py_printable(char32_t c) {
  if (c == U' ') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: return false;
    default: return true;
  }
}

// Python's repr() of a str (unicode_repr): single quotes unless the text holds a ' and no ";
// backslash and that quote escaped; \t \n \r; other control characters and every code point
// Python cannot print as \xhh, \uhhhh or \Uhhhhhhhh; the rest as it is. `s` is valid UTF-8
// (the dataset readers check it).
std::string py_repr(const std::string& s) {
  const char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t c = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(s.size() - i), &c);
    MEDVQA_CHECK(n > 0, "prompt: an option is not valid UTF-8 at byte ", i);
    char buf[16];
    if (c == q || c == '\\') out += {'\\', static_cast<char>(c)};
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c < ' ' || c == 0x7f || (c > 0x7f && !py_printable(static_cast<char32_t>(c)))) {
      std::snprintf(buf, sizeof buf, c <= 0xff ? "\\x%02x" : c <= 0xffff ? "\\u%04x" : "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.append(s, i, static_cast<size_t>(n));
    }
    i += static_cast<size_t>(n);
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

std::string closed_form_suffix(const VqaItem& item, const std::string& question_form) {
  if (question_form != "closed" || item.options.empty()) return "";
  std::string list = "[";
  for (size_t i = 0; i < item.options.size(); ++i) list += (i ? ", " : "") + py_repr(item.options[i]);
  return " Here are " + std::to_string(item.options.size()) + " candidate answers: " + list +
         "] Only return what you think is the correct answer from the candidate answers, do not return any other "
         "irrelevant text!";
}

int64_t Sample::label_count() const {
  return std::count_if(labels.begin(), labels.end(), [](int64_t l) { return l != kIgnoreIndex; });
}

std::string question_text(const VqaItem& item, const std::string& question_form) {
  return item.question + closed_form_suffix(item, question_form);
}

Sample build_sample(const Tokenizer& tokenizer, const VqaItem& item, const PromptOptions& options, bool with_answer) {
  // The chat around an empty user turn; its content goes in at `start`.
  std::vector<ChatMessage> messages{{"user", ""}};
  if (with_answer) messages.push_back({"assistant", item.gt_answer});
  ChatOptions chat;
  chat.add_generation_prompt = !with_answer;
  chat.content_specials = Specials::kPlain;  // dataset text never injects control tokens
  ChatTokens t = apply_llama3_chat(tokenizer, messages, chat);
  const size_t start = user_content_start(t.ids, tokenizer);

  // The user's content is placeholders + "\n" + question [+ the closed form's options], and the
  // template trims the content as a whole: the placeholders come first, so only its end is trimmed
  // (a question's leading spaces stay). The placeholders split the text; what follows them
  // tokenizes alone, and the options' list begins with " Here", where the pre-tokenizer always
  // splits, so the question's tokens and the list's are those of the whole text.
  const std::string suffix = closed_form_suffix(item, options.question_form);
  std::string question = "\n" + item.question;
  if (suffix.empty()) question = std::string(trim_trailing_chat_content(question));
  std::vector<int32_t> q = tokenizer.encode(question, Specials::kPlain);
  std::vector<int32_t> list = tokenizer.encode(suffix, Specials::kPlain);

  // Only the question is cut, from its end; the options, the template and the answer never are.
  const size_t total = t.ids.size() + static_cast<size_t>(options.image_tokens) + q.size() + list.size();
  const auto limit = static_cast<size_t>(options.max_seq_len);
  const size_t fixed = total - q.size() + std::min<size_t>(q.size(), 1);
  MEDVQA_CHECK(fixed <= limit, item.source, ": does not fit data.max_seq_len=", options.max_seq_len,
               " even with the question cut to its first token: ", fixed, " tokens of image, template",
               suffix.empty() ? "" : ", options", with_answer ? " and answer" : "");
  const size_t keep = total <= limit ? q.size() : q.size() - (total - limit);

  Sample s;
  s.truncated = keep < q.size();
  auto push = [&](int64_t id, bool label) {
    s.ids.push_back(id);
    if (with_answer) s.labels.push_back(label ? id : kIgnoreIndex);
  };
  for (size_t i = 0; i < start; ++i) push(t.ids[i], t.label_mask[i]);
  for (int64_t i = 0; i < options.image_tokens; ++i) push(options.image_token_id, false);
  for (size_t i = 0; i < keep; ++i) push(q[i], false);
  for (int32_t id : list) push(id, false);
  for (size_t i = start; i < t.ids.size(); ++i) push(t.ids[i], t.label_mask[i]);
  return s;
}

}  // namespace medvqa
