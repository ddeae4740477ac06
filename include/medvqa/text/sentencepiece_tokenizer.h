// SentencePiece models (LLaMA-2 family and other SentencePiece LLMs) through libsentencepiece,
// behind the Tokenizer interface. Encoding and decoding are libsentencepiece's own; this file
// adds the special-token parsing and the per-piece bytes that stream decoding needs.
#pragma once

#include <memory>
#include <string>

#include "medvqa/text/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace medvqa {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `serialized`: the bytes of a SentencePiece ModelProto; an Error names `path` when they are not one.
  SentencePieceTokenizer(const std::string& path, const std::string& serialized);
  ~SentencePieceTokenizer() override;

  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string piece_bytes(int32_t id, bool first) const override;
  int32_t vocab_size() const override;
  std::optional<int32_t> bos_id() const override;
  std::optional<int32_t> eos_id() const override;
  std::string describe() const override { return "sentencepiece (" + path_ + ")"; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
};

}  // namespace medvqa
