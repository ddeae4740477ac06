#include "medvqa/eval/normalize.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>

#include "medvqa/eval/unicode.h"

namespace medvqa {
namespace {

bool letter_or_number(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool decimal_digit(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND;
}

constexpr std::array<std::string_view, 21> kNumberWords = {
    "zero", "one",    "two",    "three",    "four",     "five",    "six",
    "seven", "eight", "nine",   "ten",      "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};

}  // namespace

std::vector<std::string> normalize_tokens(std::string_view text) {
  std::u32string s = python_lower(decode_utf8(text));
  std::u32string kept(s.size(), U' ');
  for (size_t i = 0; i < s.size(); ++i) {
    // "1.5 mm" keeps its decimal point; "end." and "a.b" lose theirs.
    bool decimal_point = s[i] == U'.' && i > 0 && i + 1 < s.size() && decimal_digit(s[i - 1]) &&
                         decimal_digit(s[i + 1]);
    if (decimal_point || letter_or_number(s[i])) kept[i] = s[i];
  }
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < kept.size()) {
    if (kept[i] == U' ') {
      ++i;
      continue;
    }
    size_t end = kept.find(U' ', i);
    if (end == std::u32string::npos) end = kept.size();
    std::string token = encode_utf8(std::u32string_view(kept).substr(i, end - i));
    i = end;
    if (token == "a" || token == "an" || token == "the") continue;
    auto word = std::find(kNumberWords.begin(), kNumberWords.end(), token);
    tokens.push_back(word == kNumberWords.end() ? token : std::to_string(word - kNumberWords.begin()));
  }
  return tokens;
}

std::string join_tokens(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& token : tokens) {
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

std::string normalize(std::string_view text) { return join_tokens(normalize_tokens(text)); }

}  // namespace medvqa
