#include "medvqa/text/stream_decoder.h"

#include "medvqa/text/utf8.h"

namespace medvqa {

std::string StreamDecoder::push(int32_t id) {
  const std::string bytes = tokenizer_.piece_bytes(id, first_);
  if (bytes.empty()) return "";
  first_ = false;
  pending_ += bytes;
  const size_t complete = utf8_complete_prefix(pending_);
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace medvqa
