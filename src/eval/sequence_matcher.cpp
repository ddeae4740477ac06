#include "medvqa/eval/sequence_matcher.h"

#include <algorithm>
#include <iterator>
#include <tuple>
#include <utility>

#include "medvqa/eval/unicode.h"

namespace medvqa {
namespace {

// difflib's autojunk: in a b of at least this many elements, an element occurring more than
// 1 + len(b) // 100 times is "popular" and never starts a match.
constexpr size_t kAutojunkMinLength = 200;

}  // namespace

SequenceMatcher::SequenceMatcher(std::u32string b) : b_(std::move(b)) {
  for (size_t j = 0; j < b_.size(); ++j) b2j_[b_[j]].push_back(j);
  if (b_.size() >= kAutojunkMinLength) {
    const size_t ntest = b_.size() / 100 + 1;
    for (auto it = b2j_.begin(); it != b2j_.end();) {
      it = it->second.size() > ntest ? b2j_.erase(it) : std::next(it);
    }
  }
}

Match SequenceMatcher::find_longest_match(std::u32string_view a, size_t alo, size_t ahi, size_t blo,
                                          size_t bhi) const {
  Rows rows;
  return find_longest_match(a, alo, ahi, blo, bhi, rows);
}

Match SequenceMatcher::find_longest_match(std::u32string_view a, size_t alo, size_t ahi, size_t blo,
                                          size_t bhi, Rows& rows) const {
  rows.prev.assign(b_.size() + 1, 0);
  rows.cur.assign(b_.size() + 1, 0);
  rows.prev_set.clear();
  size_t besti = alo, bestj = blo, bestsize = 0;
  for (size_t i = alo; i < ahi; ++i) {
    rows.cur_set.clear();
    auto found = b2j_.find(a[i]);
    if (found != b2j_.end()) {
      const std::vector<size_t>& js = found->second;
      for (auto it = std::lower_bound(js.begin(), js.end(), blo); it != js.end() && *it < bhi; ++it) {
        const size_t j = *it;
        // k = length of the match ending at a[i], b[j]; prev[j] holds it for a[i-1], b[j-1].
        const size_t k = rows.prev[j] + 1;
        rows.cur[j + 1] = k;
        rows.cur_set.push_back(j + 1);
        if (k > bestsize) {
          besti = i + 1 - k;
          bestj = j + 1 - k;
          bestsize = k;
        }
      }
    }
    for (size_t idx : rows.prev_set) rows.prev[idx] = 0;
    std::swap(rows.prev, rows.cur);
    std::swap(rows.prev_set, rows.cur_set);
  }
  // With isjunk=None nothing is junk, so difflib's extension loops reduce to these two: they
  // grow the block over equal elements, popular ones included.
  while (besti > alo && bestj > blo && a[besti - 1] == b_[bestj - 1]) {
    --besti;
    --bestj;
    ++bestsize;
  }
  while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b_[bestj + bestsize]) {
    ++bestsize;
  }
  return {besti, bestj, bestsize};
}

std::vector<Match> SequenceMatcher::matching_blocks(std::u32string_view a) const {
  struct Span {
    size_t alo, ahi, blo, bhi;
  };
  Rows rows;
  std::vector<Span> queue{{0, a.size(), 0, b_.size()}};
  std::vector<Match> blocks;
  while (!queue.empty()) {
    Span s = queue.back();
    queue.pop_back();
    Match m = find_longest_match(a, s.alo, s.ahi, s.blo, s.bhi, rows);
    if (m.size == 0) continue;
    blocks.push_back(m);
    if (s.alo < m.a_pos && s.blo < m.b_pos) queue.push_back({s.alo, m.a_pos, s.blo, m.b_pos});
    if (m.a_pos + m.size < s.ahi && m.b_pos + m.size < s.bhi) {
      queue.push_back({m.a_pos + m.size, s.ahi, m.b_pos + m.size, s.bhi});
    }
  }
  std::sort(blocks.begin(), blocks.end(), [](const Match& x, const Match& y) {
    return std::tie(x.a_pos, x.b_pos, x.size) < std::tie(y.a_pos, y.b_pos, y.size);
  });
  std::vector<Match> merged;
  for (const Match& m : blocks) {
    if (!merged.empty() && merged.back().a_pos + merged.back().size == m.a_pos &&
        merged.back().b_pos + merged.back().size == m.b_pos) {
      merged.back().size += m.size;
    } else {
      merged.push_back(m);
    }
  }
  merged.push_back({a.size(), b_.size(), 0});
  return merged;
}

double SequenceMatcher::ratio(std::u32string_view a) const {
  size_t matches = 0;
  for (const Match& m : matching_blocks(a)) matches += m.size;
  const size_t length = a.size() + b_.size();
  return length ? 2.0 * static_cast<double>(matches) / static_cast<double>(length) : 1.0;
}

double sequence_ratio(std::string_view a, std::string_view b) {
  return SequenceMatcher(decode_utf8(b)).ratio(decode_utf8(a));
}

}  // namespace medvqa
