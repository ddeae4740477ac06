// The pre-tokenizer: a PCRE2 pattern (UTF + UCP, JIT-compiled where PCRE2 supports it) whose
// successive matches cut text into the pieces BPE encodes. Owns no vocabulary.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medvqa {

class RegexSplitter {
 public:
  explicit RegexSplitter(const std::string& pattern);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Replaces `pieces` with the successive non-overlapping matches in `text`, which must be valid
  // UTF-8 (checked by the caller once, not per match). Text between matches is dropped, as
  // tiktoken's find_iter does; the LLaMA-3 pattern matches every character.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medvqa
