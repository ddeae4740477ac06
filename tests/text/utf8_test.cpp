#include "medvqa/text/utf8.h"

#include <gtest/gtest.h>

using medvqa::find_invalid_utf8;
using medvqa::utf8_complete_prefix;
constexpr size_t kValid = std::string_view::npos;

TEST(Utf8, AcceptsValidText) {
  EXPECT_EQ(find_invalid_utf8(""), kValid);
  EXPECT_EQ(find_invalid_utf8("ascii \xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x99\x82"), kValid);
  EXPECT_EQ(find_invalid_utf8("\xF4\x8F\xBF\xBF"), kValid);  // U+10FFFF
}

TEST(Utf8, NamesTheFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);              // stray continuation
  EXPECT_EQ(find_invalid_utf8("a\xC0\xAF"), 1u);           // overlong '/'
  EXPECT_EQ(find_invalid_utf8("a\xED\xA0\x80"), 1u);       // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);    // > U+10FFFF
  EXPECT_EQ(find_invalid_utf8("ok\xE4\xB8"), 2u);          // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\xE4" "a" "\xB8"), 0u);     // continuation missing
}

TEST(Utf8, CompletePrefixStopsBeforeAnOpenCharacter) {
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xF0\x9F\x99"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xF0\x9F\x99\x82"), 5u);
  EXPECT_EQ(utf8_complete_prefix("a\xE4"), 1u);
  EXPECT_EQ(utf8_complete_prefix("\x80\x80"), 2u);  // invalid bytes never hold output back
}

TEST(Utf8, ReplaceInvalidBytesLikePythonsReplace) {
  EXPECT_EQ(medvqa::replace_invalid_utf8("ok \xC3\xA9"), "ok \xC3\xA9");
  // Python: b"a\xffb\xe5\xbf".decode("utf-8", "replace") == "a\ufffdb\ufffd": a truncated sequence is one.
  EXPECT_EQ(medvqa::replace_invalid_utf8("a\xFF" "b\xE5\xBF"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  // Each case: the number of U+FFFD Python's decode(errors="replace") gives (and the valid rest).
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xE0\x80\x80"), r + r + r);  // overlong: E0 takes A0..BF second
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xED\xA0\x80"), r + r + r);  // a surrogate
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xF0\x9F\x98"), r);          // an emoji cut short
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xC0\xAF"), r + r);
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xE2\x82" "A"), r + "A");
  EXPECT_EQ(medvqa::replace_invalid_utf8("\x80\x80"), r + r);
  EXPECT_EQ(medvqa::replace_invalid_utf8("\xF0\x9F\x98\x80\xF0"), "\xF0\x9F\x98\x80" + r);
}
