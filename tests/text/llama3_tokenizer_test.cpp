#include "medvqa/text/llama3_tokenizer.h"

#include <gtest/gtest.h>

#include "medvqa/core/error.h"
#include "test_tokenizer.h"

using medvqa::Specials;
using medvqa::testing::llama3;
using Ids = std::vector<int32_t>;

TEST(Llama3Tokenizer, MetaPublishedEncodings) {
  const auto& tok = llama3();
  EXPECT_EQ(tok.encode("This is a test sentence.", Specials::kPlain), (Ids{2028, 374, 264, 1296, 11914, 13}));
  // A space before a special token stays its own token.
  EXPECT_EQ(tok.encode("text before <|eot_id|>", Specials::kParse), (Ids{1342, 1603, 220, 128009}));
  EXPECT_EQ(tok.encode("<|start_header_id|>user<|end_header_id|>\n\n", Specials::kParse),
            (Ids{128006, 882, 128007, 271}));
}

TEST(Llama3Tokenizer, SpecialTokens) {
  const auto& tok = llama3();
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);
  EXPECT_EQ(tok.eot_id(), 128009);
  EXPECT_EQ(tok.id_of("<|reserved_special_token_0|>"), 128002);
  EXPECT_EQ(tok.id_of("<|reserved_special_token_250|>"), 128255);
  EXPECT_EQ(tok.id_of("<|eom_id|>"), std::nullopt);  // a LLaMA-3.1 name: Meta's 3.0 file says reserved_4
  EXPECT_EQ(tok.stop_ids(), (Ids{128001, 128009}));
  EXPECT_EQ(tok.decode({128000, 9906}), "<|begin_of_text|>Hello");
}

TEST(Llama3Tokenizer, PlainModeTreatsSpecialStringsAsText) {
  const auto& tok = llama3();
  const Ids plain = tok.encode("a<|eot_id|>b", Specials::kPlain);
  const Ids parsed = tok.encode("a<|eot_id|>b", Specials::kParse);
  EXPECT_EQ(parsed, (Ids{64, 128009, 65}));
  EXPECT_GT(plain.size(), 3u);
  for (const auto id : plain) EXPECT_LT(id, 128000);
  EXPECT_EQ(tok.decode(plain), "a<|eot_id|>b");
  // Not a special: an unknown name and an unclosed one stay text in parse mode too.
  EXPECT_EQ(tok.encode("<|nope|> <|eot_id", Specials::kParse), tok.encode("<|nope|> <|eot_id", Specials::kPlain));
}

TEST(Llama3Tokenizer, DecodeRoundTripsExactBytes) {
  const auto& tok = llama3();
  for (const std::string text : {"", "  leading and trailing  ", "Dx: T2N0M0, 12.5 mg/kg q8h\r\n",
                                 "\xF0\x9F\xA9\xBB \xE8\x82\xBA\xE7\x82\x8E \xD8\xB5\xD8\xAF\xD8\xB1",
                                 "e\xCC\x81\xCC\x81 12345678901234567890"}) {
    EXPECT_EQ(tok.decode(tok.encode(text, Specials::kPlain)), text);
  }
}

TEST(Llama3Tokenizer, DigitsSplitInThrees) {
  const auto& tok = llama3();
  const Ids ids = tok.encode("1234567", Specials::kPlain);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok.decode({ids[0]}), "123");
  EXPECT_EQ(tok.decode({ids[2]}), "7");
}

TEST(Llama3Tokenizer, RejectsInvalidUtf8AndBadIds) {
  const auto& tok = llama3();
  try {
    tok.encode("ok\xFF", Specials::kPlain);
    FAIL() << "invalid UTF-8 accepted";
  } catch (const medvqa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok.decode({128256}), medvqa::Error);
  EXPECT_THROW(tok.decode({-1}), medvqa::Error);
}

TEST(Llama3Tokenizer, LongRunsStayFast) {
  const auto& tok = llama3();
  // One 20,000-character piece: the merge loop is quadratic in the piece, the regex is not.
  const std::string letters(20000, 'a');
  EXPECT_EQ(tok.decode(tok.encode(letters, Specials::kPlain)), letters);
  const std::string spaces(100000, ' ');
  EXPECT_EQ(tok.decode(tok.encode(spaces + "x", Specials::kPlain)), spaces + "x");
}
