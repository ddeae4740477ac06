#include "medvqa/serve/stop_strings.h"

#include <gtest/gtest.h>

using namespace medvqa::serve;

namespace {

TEST(StopStrings, WithoutStopsEverythingPasses) {
  StopStrings s({});
  EXPECT_EQ(s.push("abc"), "abc");
  EXPECT_EQ(s.finish(), "");
  EXPECT_FALSE(s.stopped());
}

TEST(StopStrings, StopsBeforeTheFirstMatchAcrossPieces) {
  StopStrings s({"END", "\n\n"});
  EXPECT_EQ(s.push("CT of the E"), "CT of the ");  // "E" may start "END"
  EXPECT_EQ(s.push("N"), "");
  EXPECT_EQ(s.push("Dless"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.push("more"), "");
  EXPECT_EQ(s.finish(), "");
}

TEST(StopStrings, ReleasesAHeldTailThatDidNotMatch) {
  StopStrings s({"END"});
  EXPECT_EQ(s.push("EN"), "");
  EXPECT_EQ(s.push("X"), "ENX");
  EXPECT_EQ(s.push("E"), "");
  EXPECT_EQ(s.finish(), "E");
  EXPECT_FALSE(s.stopped());
}

TEST(StopStrings, TheEarliestOfSeveralMatchesWins) {
  StopStrings s({"b", "a"});
  EXPECT_EQ(s.push("xxabxx"), "xx");
  EXPECT_TRUE(s.stopped());
}

}  // namespace
