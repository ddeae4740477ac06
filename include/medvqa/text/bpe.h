// tiktoken's byte-pair encoder: a table of token byte strings whose rank is their id, and the
// merge of one pre-tokenized piece into ids. Knows nothing of regex splitting, special tokens or
// file formats (llama3_tokenizer.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medvqa {

class BytePairEncoder {
 public:
  // tokens[i]: the bytes of the token of rank (and id) i; all distinct, all 256 single bytes present.
  // `source` names the file in errors.
  BytePairEncoder(std::vector<std::string> tokens, const std::string& source);

  // Appends the ids of `piece`: its own id when it is a token, else the result of merging the
  // adjacent pair of lowest rank until no pair is a token.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;
  // Rank of `bytes`, or -1 when they are not a token.
  int32_t rank_of(std::string_view bytes) const;
  std::string_view bytes_of(int32_t id) const {
    return std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  int32_t size() const { return static_cast<int32_t>(offsets_.size()) - 1; }

 private:
  std::string arena_;              // every token's bytes, back to back, in rank order
  std::vector<uint32_t> offsets_;  // token i = arena_[offsets_[i], offsets_[i + 1])
  std::vector<int32_t> slots_;     // open-addressing hash table of ranks, -1 = empty
  size_t slot_mask_ = 0;
};

}  // namespace medvqa
