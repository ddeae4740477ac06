#include "medvqa/text/utf8.h"

#include <cstdint>

namespace medvqa {

namespace {

// Length of the sequence a lead byte opens; 0 for a byte that cannot open one.
int sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    const int len = sequence_length(s[i]);
    if (len == 0 || i + len > n) return i;
    for (int k = 1; k < len; ++k)
      if (!is_continuation(s[i + k])) return i;
    // The second byte's range rules out overlong forms, surrogates and code points > U+10FFFF.
    const uint8_t b1 = s[i + 1];
    if ((s[i] == 0xE0 && b1 < 0xA0) || (s[i] == 0xED && b1 > 0x9F) || (s[i] == 0xF0 && b1 < 0x90) ||
        (s[i] == 0xF4 && b1 > 0x8F))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

size_t utf8_complete_prefix(std::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  // Only the last 3 bytes can belong to a character still missing continuation bytes.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const uint8_t b = s[n - back];
    if (is_continuation(b)) continue;
    const int len = sequence_length(b);
    return len > static_cast<int>(back) ? n - back : n;
  }
  return n;
}

std::string replace_invalid_utf8(std::string_view text) {
  std::string out;
  for (size_t bad; (bad = find_invalid_utf8(text)) != std::string_view::npos; text.remove_prefix(bad + 1))
    out.append(text.substr(0, bad)).append("\xEF\xBF\xBD");
  return out.append(text);
}

}  // namespace medvqa
