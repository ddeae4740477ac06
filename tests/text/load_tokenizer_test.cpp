#include <gtest/gtest.h>

#include <algorithm>

#include "medvqa/core/error.h"
#include "medvqa/text/llama3_tokenizer.h"
#include "test_tokenizer.h"

using medvqa::load_tokenizer;
using medvqa::Specials;
using medvqa::testing::write_temp;
using Ids = std::vector<int32_t>;

namespace {

std::string load_error(const std::string& path) {
  try {
    load_tokenizer(path);
  } catch (const medvqa::Error& e) {
    return e.what();
  }
  return "no error";
}

// A byte-level vocabulary: the 256 single bytes, then "ab", "abab".
std::vector<std::string> tiny_tokens() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
  tokens.push_back("ab");
  tokens.push_back("abab");
  return tokens;
}

std::string base64(const std::string& bytes) {
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k) group = (group << 8) | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? alphabet[(group >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// GPT-2's byte-to-unicode string of `bytes` (the form tokenizer.json keys take).
std::string gpt2(const std::string& bytes) {
  std::string out;
  for (const char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    uint32_t cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) {
      cp = 256;
      for (int x = 0; x < b; ++x)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++cp;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string tiny_tokenizer_json(const std::string& pattern) {
  const auto tokens = tiny_tokens();
  std::string vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) vocab += ',';
    vocab += json_string(gpt2(tokens[i]));
    vocab += ':';
    vocab += std::to_string(i);
  }
  std::string escaped_pattern;
  for (const char c : pattern) escaped_pattern += c == '\\' ? std::string("\\\\") : std::string(1, c);
  return R"({"added_tokens": [{"id": 259, "content": "<|eom_id|>"}, {"id": 258, "content": "<|begin_of_text|>"}],
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": ")" + escaped_pattern + R"("}, "behavior": "Isolated"},
    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
  "model": {"type": "BPE", "ignore_merges": true, "vocab": {)" + vocab + "}, \"merges\": []}}";
}

}  // namespace

TEST(LoadTokenizer, TiktokenFileAndTokenizerJsonAgree) {
  std::string lines;
  const auto tokens = tiny_tokens();
  for (size_t i = 0; i < tokens.size(); ++i) lines += base64(tokens[i]) + " " + std::to_string(i) + "\n";
  const auto from_model = load_tokenizer(write_temp("tiny/tokenizer.model", lines).string());
  const auto from_json =
      load_tokenizer(write_temp("tiny/tokenizer.json", tiny_tokenizer_json(medvqa::kLlama3SplitPattern)).string());
  for (const std::string text : {"ababab abab", "xab\xC3\xA9\xE4\xB8\xAD 123"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(from_model->encode(text, Specials::kPlain), from_json->encode(text, Specials::kPlain));
    EXPECT_EQ(from_json->decode(from_json->encode(text, Specials::kPlain)), text);
  }
  EXPECT_EQ(from_model->encode("abab", Specials::kPlain), (Ids{257}));
  EXPECT_EQ(from_model->encode("ababa", Specials::kPlain), (Ids{257, 'a'}));
  // tokenizer.json brings its own special names (LLaMA-3.1's here), in id order whatever the file order.
  EXPECT_EQ(from_json->id_of("<|eom_id|>"), 259);
  EXPECT_EQ(from_json->bos_id(), 258);
  EXPECT_EQ(from_json->encode("ab<|eom_id|>", Specials::kParse), (Ids{256, 259}));
  EXPECT_EQ(from_model->id_of("<|begin_of_text|>"), 258);
}

TEST(LoadTokenizer, DirectoryPrefersMetasOriginalFile) {
  const auto& real = std::string(MEDVQA_SOURCE_DIR) + "/third_party/llama3/tokenizer.model";
  const auto dir = write_temp("model_dir/original/tokenizer.model", "").parent_path().parent_path();
  std::filesystem::copy_file(real, dir / "original" / "tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  write_temp("model_dir/tokenizer.json", "{}");  // would fail if it were chosen
  EXPECT_EQ(load_tokenizer(dir.string())->vocab_size(), 128256);
  const auto empty = write_temp("empty_dir/x.txt", "").parent_path();
  EXPECT_NE(load_error(empty.string()).find("looked for original/tokenizer.model, tokenizer.model and tokenizer.json"),
            std::string::npos);
}

TEST(LoadTokenizer, FilesOfAnotherKindAreRefusedClearly) {
  auto expect_error = [](const std::string& name, const std::string& content, const std::string& fragment) {
    const auto path = write_temp(name, content).string();
    const std::string err = load_error(path);
    EXPECT_NE(err.find(path), std::string::npos) << err;
    EXPECT_NE(err.find(fragment), std::string::npos) << err;
  };
  expect_error("notes.txt", "hello world\n", "not a tokenizer: expected Meta's tiktoken tokenizer.model");
  expect_error("empty.model", "", "found an empty file");
  expect_error("config.json", R"({"hidden_size": 4096})", "not an HF tokenizer.json");
  expect_error("broken.json", R"({"model": )", "invalid JSON");
  expect_error("wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {}}})", "expected model.type 'BPE'");
  expect_error("gpt2.json", tiny_tokenizer_json("'s|'t| ?\\p{L}+"), "expected the LLaMA-3 Split pre-tokenizer");
  expect_error("bad_line.model", "IQ== 0\nIg== 1\nnot-base64! 2\n", ":3: '");
  expect_error("bad_rank.model", "IQ== 0\nIg== 5\n", ":2: expected rank 1");
  expect_error("few_bytes.model", "IQ== 0\nIg== 1\n", "is not a token; a byte-level BPE needs all 256");
  expect_error("fake.model", std::string("\x0A\x03xyz garbage", 13), "not a valid SentencePiece model");
  EXPECT_NE(load_error("/nonexistent/tokenizer.model").find("does not exist"), std::string::npos);
}
