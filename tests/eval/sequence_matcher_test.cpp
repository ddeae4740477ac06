// Expected values are Python 3.11 difflib's, computed by hand in a Python shell.
#include "medvqa/eval/sequence_matcher.h"

#include <gtest/gtest.h>

#include <string>

using medvqa::Match;
using medvqa::SequenceMatcher;
using medvqa::sequence_ratio;

TEST(SequenceMatcher, DifflibDocstringExamples) {
  SequenceMatcher m(U"abcd");
  EXPECT_EQ(m.matching_blocks(U"abxcd"), (std::vector<Match>{{0, 0, 2}, {3, 2, 2}, {5, 4, 0}}));
  EXPECT_DOUBLE_EQ(m.ratio(U"abxcd"), 8.0 / 9.0);
  // Longest match earliest in a, then earliest in b.
  EXPECT_EQ(SequenceMatcher(U"abcd abcd").find_longest_match(U" abcd", 0, 5, 0, 9), (Match{0, 4, 5}));
  EXPECT_EQ(SequenceMatcher(U"c").find_longest_match(U"ab", 0, 2, 0, 1), (Match{0, 0, 0}));
}

TEST(SequenceMatcher, RatioEdgeCases) {
  EXPECT_EQ(sequence_ratio("", ""), 1.0);
  EXPECT_EQ(sequence_ratio("ab", "c"), 0.0);
  EXPECT_EQ(sequence_ratio("", "abc"), 0.0);
  EXPECT_EQ(sequence_ratio("Fundus imaging", "fundus imaging"), 0.9285714285714286);
  EXPECT_EQ(sequence_ratio("CT scan", "The image is a CT scan."), 0.4666666666666667);
  // Code points, not bytes: 3 + 5 characters, 3 matched.
  EXPECT_EQ(sequence_ratio("日本語", "日本の言語"), 0.75);
}

TEST(SequenceMatcher, AutojunkDropsPopularElementsOfLongB) {
  // len(b) = 199: no autojunk, the two x's match.
  EXPECT_EQ(sequence_ratio("xx", "y" + std::string(198, 'x')), 0.01990049751243781);
  // len(b) = 200: x occurs 199 > 1 + 200 // 100 times, is popular and can no longer start a match.
  EXPECT_EQ(sequence_ratio("xx", "y" + std::string(199, 'x')), 0.0);
  // ...but a match found elsewhere still extends over popular elements (p is not popular).
  const std::u32string b = U"pqqqqq" + std::u32string(294, U'z');
  EXPECT_EQ(SequenceMatcher(b).matching_blocks(U"pq"), (std::vector<Match>{{0, 0, 2}, {2, 300, 0}}));
  EXPECT_EQ(SequenceMatcher(b).matching_blocks(U"q"), (std::vector<Match>{{1, 300, 0}}));
}

TEST(SequenceMatcher, PopularityThresholdIsStrict) {
  // len(b) = 300: ntest = 4; q occurs exactly 4 times and stays, z occurs 296 times and goes.
  const std::string b = std::string(4, 'q') + std::string(296, 'z');
  EXPECT_EQ(sequence_ratio("q", b), 2.0 / 301.0);
  EXPECT_EQ(sequence_ratio("z", b), 0.0);
}
