#include "medvqa/text/stream_decoder.h"

#include <gtest/gtest.h>

#include "medvqa/text/utf8.h"
#include "test_tokenizer.h"

using medvqa::Specials;
using medvqa::StreamDecoder;
using medvqa::testing::llama3;

TEST(StreamDecoder, NeverEmitsHalfACharacter) {
  const auto& tok = llama3();
  // Rare emoji and CJK characters are split over byte tokens by LLaMA-3's BPE.
  const std::string text = "scan \xF0\x9F\xA9\xBB\xF0\x9F\xA6\xB4 \xE9\xAA\xA8\xE6\x8A\x98 ok";
  const auto ids = tok.encode(text, Specials::kPlain);
  int partial_tokens = 0;
  for (const auto id : ids)
    if (medvqa::find_invalid_utf8(tok.decode({id})) != std::string_view::npos) ++partial_tokens;
  ASSERT_GT(partial_tokens, 0) << "the text must exercise tokens that hold part of a character";

  StreamDecoder stream(tok);
  std::string joined;
  int held = 0;
  for (const auto id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_EQ(medvqa::find_invalid_utf8(piece), std::string_view::npos) << "half a character emitted";
    if (piece.empty()) ++held;
    joined += piece;
  }
  joined += stream.flush();
  EXPECT_GT(held, 0);
  EXPECT_EQ(joined, text);
}

TEST(StreamDecoder, FlushReturnsAnUnfinishedCharacter) {
  const auto& tok = llama3();
  const auto ids = tok.encode("\xF0\x9F\xA9\xBB", Specials::kPlain);
  ASSERT_GT(ids.size(), 1u);
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.flush(), tok.decode({ids[0]}));
}
