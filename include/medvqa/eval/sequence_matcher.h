// Python's difflib.SequenceMatcher(None, a, b) for the OmniMedVQA question-answering score:
// Ratcliff/Obershelp matching blocks with difflib's autojunk rule, over Unicode code points,
// reproducing find_longest_match's tie-breaking exactly. No opcodes, no isjunk, no quick ratios.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace medvqa {

// a[a_pos, a_pos + size) == b[b_pos, b_pos + size); difflib's Match triple.
struct Match {
  size_t a_pos = 0;
  size_t b_pos = 0;
  size_t size = 0;
  bool operator==(const Match& o) const { return a_pos == o.a_pos && b_pos == o.b_pos && size == o.size; }
};

// Holds b (difflib's seq2, the side autojunk applies to) so that several a's (the options) are
// matched against one prediction without re-indexing it, as difflib's set_seq1 does.
class SequenceMatcher {
 public:
  explicit SequenceMatcher(std::u32string b);

  // difflib's find_longest_match(alo, ahi, blo, bhi): longest block, earliest in a, then in b.
  Match find_longest_match(std::u32string_view a, size_t alo, size_t ahi, size_t blo, size_t bhi) const;
  // difflib's get_matching_blocks(): sorted, adjacent blocks merged, ending with (len a, len b, 0).
  std::vector<Match> matching_blocks(std::u32string_view a) const;
  // 2 * matched / (len a + len b); 1.0 when both are empty.
  double ratio(std::u32string_view a) const;

 private:
  // The j2len rows of find_longest_match, indexed j + 1, reused across the calls of one a.
  struct Rows {
    std::vector<size_t> prev, cur;
    std::vector<size_t> prev_set, cur_set;
  };
  Match find_longest_match(std::u32string_view a, size_t alo, size_t ahi, size_t blo, size_t bhi,
                           Rows& rows) const;

  std::u32string b_;
  // Positions of each code point in b, ascending; popular code points are absent (autojunk).
  std::unordered_map<char32_t, std::vector<size_t>> b2j_;
};

// SequenceMatcher(None, a, b).ratio() of two UTF-8 strings.
double sequence_ratio(std::string_view a, std::string_view b);

}  // namespace medvqa
