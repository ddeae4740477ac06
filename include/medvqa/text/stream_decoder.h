// Incremental decoding for generation: ids in, whole UTF-8 characters out. Holds back the bytes
// of a character that later tokens complete (LLaMA-3 splits emoji and CJK across byte tokens).
// Knows nothing of stopping rules; the generator decides when the stream ends.
#pragma once

#include <cstdint>
#include <string>

#include "medvqa/text/tokenizer.h"

namespace medvqa {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // The text that `id` completes; empty while a character is still open.
  std::string push(int32_t id);
  // The bytes still held at the end of the stream (an unfinished character), raw.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool first_ = true;  // no byte produced yet: SentencePiece drops its dummy-prefix space here
};

}  // namespace medvqa
