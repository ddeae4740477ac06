#include "medvqa/text/sentencepiece_tokenizer.h"

#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include "medvqa/text/stream_decoder.h"
#include "medvqa/text/utf8.h"
#include "test_tokenizer.h"

using medvqa::load_tokenizer;
using medvqa::Specials;
using medvqa::testing::write_temp;

namespace {

// A LLaMA-2 style model (BPE, byte fallback) trained here on a few lines: characters it never
// saw, like the CJK below, become byte pieces.
const medvqa::Tokenizer& tiny_sentencepiece() {
  static const auto tokenizer = [] {
    std::string lines;
    for (int i = 0; i < 50; ++i)
      lines += "The chest radiograph shows a right lower lobe pneumonia.\nNo acute fracture of line " +
               std::to_string(i) + ".\n";
    const auto input = write_temp("sp/train.txt", lines);
    const auto prefix = input.parent_path() / "tiny";
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + input.string() + " --model_prefix=" + prefix.string() +
        " --model_type=bpe --vocab_size=300 --byte_fallback=true --minloglevel=2");
    EXPECT_TRUE(status.ok()) << status.ToString();
    return load_tokenizer(prefix.string() + ".model");
  }();
  return *tokenizer;
}

}  // namespace

TEST(SentencePieceTokenizer, RoundTripsThroughByteFallback) {
  const auto& tok = tiny_sentencepiece();
  EXPECT_EQ(tok.vocab_size(), 300);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.stop_ids(), (std::vector<int32_t>{2}));
  const std::string text = "The lobe \xE8\x82\xBA\xE7\x82\x8E shows pneumonia.";
  EXPECT_EQ(tok.decode(tok.encode(text, Specials::kPlain)), text);
}

TEST(SentencePieceTokenizer, ParsesControlPiecesOnlyInParseMode) {
  const auto& tok = tiny_sentencepiece();
  const auto parsed = tok.encode("<s>The</s>", Specials::kParse);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(parsed.back(), 2);
  for (const auto id : tok.encode("<s>The</s>", Specials::kPlain)) EXPECT_GT(id, 2);
}

TEST(SentencePieceTokenizer, StreamDecodeDropsTheDummyPrefixAndHoldsBytes) {
  const auto& tok = tiny_sentencepiece();
  const std::string text = "Shows \xE8\x82\xBA\xE7\x82\x8E lobe";
  const auto ids = tok.encode(text, Specials::kPlain);
  medvqa::StreamDecoder stream(tok);
  std::string joined;
  int held = 0;
  for (const auto id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_EQ(medvqa::find_invalid_utf8(piece), std::string_view::npos);
    held += piece.empty();
    joined += piece;
  }
  joined += stream.flush();
  EXPECT_GT(held, 0) << "byte-fallback pieces of one character must be held until it is complete";
  EXPECT_EQ(joined, text);
  EXPECT_EQ(joined, tok.decode(ids));
}

TEST(SentencePieceTokenizer, FormatComesFromContentNotName) {
  const auto& tok = tiny_sentencepiece();
  const auto model = std::filesystem::temp_directory_path() / "medvqa_text_test" / "sp" / "tiny.model";
  const auto disguised = write_temp("sp/tokenizer.json", "").string();
  std::filesystem::copy_file(model, disguised, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(load_tokenizer(disguised)->encode("The lobe", Specials::kPlain), tok.encode("The lobe", Specials::kPlain));
  const auto real = std::string(MEDVQA_SOURCE_DIR) + "/third_party/llama3/tokenizer.model";
  const auto renamed = write_temp("sp/vocab.bin", "").string();
  std::filesystem::copy_file(real, renamed, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(load_tokenizer(renamed)->vocab_size(), 128256);
}
