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

// Whether b may follow `lead` as the second byte: its range rules out overlong forms, surrogates and
// code points > U+10FFFF.
bool valid_second(uint8_t lead, uint8_t b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return is_continuation(b);
}

// Bytes of the invalid sequence at the start of s (n > 0): the maximal prefix of a well-formed
// sequence (a lead and the continuation bytes that fit it), or the one byte that opens none.
size_t invalid_length(const uint8_t* s, size_t n) {
  const int len = sequence_length(s[0]);
  size_t k = 1;
  while (len > 1 && k < static_cast<size_t>(len) && k < n && (k == 1 ? valid_second(s[0], s[1]) : is_continuation(s[k])))
    ++k;
  return k;
}

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
      if (k == 1 ? !valid_second(s[i], s[i + 1]) : !is_continuation(s[i + k])) return i;
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
  for (size_t bad; (bad = find_invalid_utf8(text)) != std::string_view::npos;) {
    out.append(text.substr(0, bad)).append("\xEF\xBF\xBD");
    text.remove_prefix(bad + invalid_length(reinterpret_cast<const uint8_t*>(text.data()) + bad, text.size() - bad));
  }
  return out.append(text);
}

}  // namespace medvqa
