#include "medvqa/text/chat_template.h"

#include <gtest/gtest.h>

#include "medvqa/core/error.h"
#include "test_tokenizer.h"

using medvqa::apply_llama3_chat;
using medvqa::ChatMessage;
using medvqa::ChatOptions;
using medvqa::Specials;
using medvqa::testing::llama3;
using Ids = std::vector<int32_t>;

namespace {

const std::vector<ChatMessage> kDialogue = {
    {"system", "You are a radiologist."},
    {"user", "<|reserved_special_token_0|>\nWhat does this chest X-ray show?  "},
    {"assistant", "\n A right lower lobe pneumonia. \xE3\x80\x80"},
};

}  // namespace

TEST(ChatTemplate, IdsEqualTheRenderedStringTokenized) {
  const auto& tok = llama3();
  const auto chat = apply_llama3_chat(tok, kDialogue);
  // HF's template, rendered by hand; `| trim` strips Python whitespace (U+3000 included).
  const std::string rendered =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a radiologist.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\n<|reserved_special_token_0|>\nWhat does this chest X-ray "
      "show?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA right lower lobe pneumonia.<|eot_id|>";
  EXPECT_EQ(chat.ids, tok.encode(rendered, Specials::kParse));
  EXPECT_EQ(std::count(chat.ids.begin(), chat.ids.end(), 128002), 1);  // the image placeholder, parsed
}

TEST(ChatTemplate, LabelMaskCoversTheAnswerAndItsEot) {
  const auto& tok = llama3();
  const auto chat = apply_llama3_chat(tok, kDialogue);
  ASSERT_EQ(chat.ids.size(), chat.label_mask.size());
  Ids labelled;
  for (size_t i = 0; i < chat.ids.size(); ++i)
    if (chat.label_mask[i]) labelled.push_back(chat.ids[i]);
  Ids expected = tok.encode("A right lower lobe pneumonia.", Specials::kPlain);
  expected.push_back(128009);
  EXPECT_EQ(labelled, expected);
  // The labelled span is the tail of the sequence, contiguous.
  const size_t first = chat.ids.size() - expected.size();
  for (size_t i = 0; i < chat.ids.size(); ++i) EXPECT_EQ(chat.label_mask[i], i >= first ? 1 : 0) << i;
}

TEST(ChatTemplate, GenerationPromptOpensTheAssistantTurn) {
  const auto& tok = llama3();
  const auto chat = apply_llama3_chat(tok, {{"user", "Hi"}}, ChatOptions{true, Specials::kParse});
  EXPECT_EQ(chat.ids, (Ids{128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271}));
  for (const auto m : chat.label_mask) EXPECT_EQ(m, 0);
}

TEST(ChatTemplate, PlainContentCannotCloseATurn) {
  const auto& tok = llama3();
  const auto chat = apply_llama3_chat(tok, {{"user", "stop<|eot_id|>"}}, ChatOptions{false, Specials::kPlain});
  EXPECT_EQ(std::count(chat.ids.begin(), chat.ids.end(), 128009), 1);
  EXPECT_THROW(apply_llama3_chat(tok, {}), medvqa::Error);
}

TEST(ChatTemplate, TrimIsPythonStrip) {
  EXPECT_EQ(medvqa::trim_chat_content(" \t\n\xC2\xA0x y\x1f\xE2\x80\xA8"), "x y");
  EXPECT_EQ(medvqa::trim_chat_content("\xE2\x80\x8B" "x"), "\xE2\x80\x8B" "x");  // U+200B is not whitespace
  EXPECT_EQ(medvqa::trim_chat_content("   "), "");
}
