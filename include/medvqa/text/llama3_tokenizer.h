// The LLaMA-3 tokenizer: Meta's split regex, tiktoken BPE and the 256 special tokens, read from
// Meta's tokenizer.model (base64 + rank lines) or an HF tokenizer.json (GPT-2 byte-level strings).
// Format detection is load_tokenizer()'s (tokenizer.h); chat formatting is chat_template.h's.
#pragma once

#include <string>
#include <vector>

#include "medvqa/text/bpe.h"
#include "medvqa/text/regex_splitter.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

// Meta's pre-tokenizer pattern (tiktoken `pat_str` of LLaMA-3 and 3.x).
extern const char* const kLlama3SplitPattern;
constexpr int kLlama3NumSpecials = 256;

// The LLaMA-3 names of the special tokens, in id order from the first id after the BPE ranks.
std::vector<std::string> llama3_special_names();

class Llama3Tokenizer : public Tokenizer {
 public:
  // specials[i] gets id tokens.size() + i.
  Llama3Tokenizer(std::vector<std::string> tokens, std::vector<std::string> specials, std::string source);

  std::string piece_bytes(int32_t id, bool first) const override;
  int32_t vocab_size() const override { return bpe_.size() + static_cast<int32_t>(special_names_.size()); }
  std::optional<int32_t> bos_id() const override { return id_of("<|begin_of_text|>"); }
  std::optional<int32_t> eos_id() const override { return id_of("<|end_of_text|>"); }
  std::string describe() const override { return "llama3 tiktoken BPE (" + source_ + ")"; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  BytePairEncoder bpe_;
  RegexSplitter splitter_;
  std::vector<std::string> special_names_;
  std::string source_;
};

// Meta's tokenizer.model: `content` holds one "base64(bytes) rank" line per token, ranks 0, 1, ...
std::unique_ptr<Tokenizer> read_tiktoken_model(const std::string& path, const std::string& content);
// HF tokenizer.json of a LLaMA-3 model: BPE vocab in GPT-2 byte-to-unicode strings, the special
// tokens from added_tokens (LLaMA-3.1 names included).
std::unique_ptr<Tokenizer> read_llama3_tokenizer_json(const std::string& path, const std::string& content);

}  // namespace medvqa
