#include "medvqa/eval/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

constexpr char32_t kCapitalDottedI = 0x130;
constexpr char32_t kCombiningDotAbove = 0x307;
constexpr char32_t kCapitalSigma = 0x3A3;
constexpr char32_t kSmallSigma = 0x3C3;
constexpr char32_t kFinalSigma = 0x3C2;

// Unicode's Case_Ignorable = Mn | Me | Cf | Lm | Sk | Word_Break in {MidLetter, MidNumLet,
// Single_Quote}. utf8proc has no Word_Break, so those few are listed (checked against CPython
// for every code point by tests/parity/test_scorers.py).
bool case_ignorable(char32_t c) {
  static constexpr char32_t kWordBreakMid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                               0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                               0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return std::binary_search(std::begin(kWordBreakMid), std::end(kWordBreakMid), c);
  }
}

// Unicode's Cased = Lu | Ll | Lt | Other_Lowercase | Other_Uppercase. Only asked of characters
// that are not case-ignorable, which leaves these Other_* ranges (the rest are Lm, ignorable).
bool cased(char32_t c) {
  struct Range {
    char32_t lo, hi;
  };
  static constexpr Range kOtherCased[] = {{0xAA, 0xAA},       {0xBA, 0xBA},       {0x2160, 0x217F},
                                          {0x24B6, 0x24E9},   {0x1F130, 0x1F149}, {0x1F150, 0x1F169},
                                          {0x1F170, 0x1F189}};
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
      return true;
    default:
      return std::any_of(std::begin(kOtherCased), std::end(kOtherCased),
                         [c](const Range& r) { return r.lo <= c && c <= r.hi; });
  }
}

// CPython's handle_capital_sigma: final iff preceded by cased (skipping case-ignorables) and not
// followed by cased (skipping case-ignorables), looking at the original string.
char32_t lower_sigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && case_ignorable(text[j - 1])) --j;
  if (j == 0 || !cased(text[j - 1])) return kSmallSigma;
  j = i + 1;
  while (j < text.size() && case_ignorable(text[j])) ++j;
  return j < text.size() && cased(text[j]) ? kSmallSigma : kFinalSigma;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
    MEDVQA_CHECK(n > 0, "invalid UTF-8 at byte ", text.size() - static_cast<size_t>(left), " of \"",
                 text, "\"");
    out.push_back(static_cast<char32_t>(c));
    p += n;
    left -= n;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  utf8proc_uint8_t buf[4];
  for (char32_t c : text) {
    utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

std::u32string python_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c == kCapitalDottedI) {
      // SpecialCasing's one unconditional multi-character lowercase mapping.
      out.push_back(U'i');
      out.push_back(kCombiningDotAbove);
    } else if (c == kCapitalSigma) {
      out.push_back(lower_sigma(text, i));
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

}  // namespace medvqa
