// The tokenizer interface every text consumer uses (data, generation, CLI) and load_tokenizer(),
// which picks the backend from a file's content. The backends live in llama3_tokenizer.h and
// sentencepiece_tokenizer.h; chat formatting lives in chat_template.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medvqa {

// kParse: special-token strings in the text ("<|eot_id|>") become their ids, as HF tokenizers do.
// kPlain: the text is only text; a special-token string is tokenized like any other characters.
enum class Specials { kParse, kPlain };
Specials parse_specials(const std::string& text);  // "parse" | "plain"

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids of `text` (valid UTF-8, else Error naming the byte offset); no bos is added.
  std::vector<int32_t> encode(std::string_view text, Specials specials) const;
  // The exact bytes of `ids` (an Error names the first id outside [0, vocab_size)).
  virtual std::string decode(const std::vector<int32_t>& ids) const;
  // The bytes token `id` adds to a decoded text; `first`: it opens the text (SentencePiece drops
  // its dummy-prefix space there). May be part of a UTF-8 character.
  virtual std::string piece_bytes(int32_t id, bool first) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  // Id of a special token by its name ("<|eot_id|>"), if this tokenizer has it.
  std::optional<int32_t> id_of(std::string_view special) const;
  // LLaMA-3 instruct's end of turn, where the vocabulary has it.
  std::optional<int32_t> eot_id() const { return id_of("<|eot_id|>"); }
  // Ids that end generation: eos and eot, those the vocabulary has.
  std::vector<int32_t> stop_ids() const;
  // "llama3 tiktoken (tokenizer.model)" etc., for logs and errors.
  virtual std::string describe() const = 0;

 protected:
  struct Special {
    std::string text;
    int32_t id;
  };
  // Backends register the strings that kParse recognises.
  void set_specials(std::vector<Special> specials);
  // Ids of text that holds no special token to parse; appended to `out`.
  virtual void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const = 0;
  void check_id(int32_t id) const;

 private:
  // The leftmost special token at or after `from`, the longest one where several start there.
  const Special* find_special(std::string_view text, size_t from, size_t& at) const;

  std::vector<Special> specials_;  // longest first, so the first match at a position is the longest
  std::string special_first_bytes_;
};

// `path`: a tokenizer file (Meta's tiktoken tokenizer.model, HF tokenizer.json or a SentencePiece
// model, told apart by content) or a model directory, where original/tokenizer.model,
// tokenizer.model and tokenizer.json are tried in that order.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace medvqa
