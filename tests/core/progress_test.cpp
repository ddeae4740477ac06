// The progress line's text: counts, percentage, rate and ETA, and what is left out early on.
#include <gtest/gtest.h>

#include "medvqa/core/log.h"
#include "medvqa/core/progress.h"

namespace medvqa {
namespace {

TEST(FormatProgress, CountsRateAndEta) {
  EXPECT_EQ(format_progress("eval:", "items", 0, 120, 400, 10.0), "eval: 120/400 items (30%) 12 items/s, ETA 23s");
  EXPECT_EQ(format_progress("eval:", "items", 0, 10, 4000, 5.0), "eval: 10/4000 items (0%) 2 items/s, ETA 33m15s");
  EXPECT_EQ(format_progress("eval:", "items", 0, 1, 10000, 1.0), "eval: 1/10000 items (0%) 1 items/s, ETA 2h46m");
}

TEST(FormatProgress, FinishedShowsTheTotalTime) {
  EXPECT_EQ(format_progress("eval: blind", "items", 0, 400, 400, 80.0), "eval: blind 400/400 items (100%) 5 items/s, 1m20s");
}

TEST(FormatProgress, NoRateBeforeAnythingIsMeasured) {
  EXPECT_EQ(format_progress("eval:", "items", 0, 0, 400, 3.0), "eval: 0/400 items (0%)");
  EXPECT_EQ(format_progress("eval:", "items", 0, 8, 400, 0.1), "eval: 8/400 items (2%)");
  EXPECT_EQ(format_progress("eval:", "items", 0, 0, 0, 0.0), "eval: 0/0 items (100%)");
}

TEST(FormatProgress, AResumedJobRatesOnlyTheNewWork) {
  EXPECT_EQ(format_progress("train:", "steps", 100, 120, 400, 10.0), "train: 120/400 steps (30%) 2 steps/s, ETA 2m20s");
  EXPECT_EQ(format_progress("train:", "steps", 100, 100, 400, 10.0), "train: 100/400 steps (25%)");
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Progress, LogsEachDueLineAndTheFinalOneOnceWithoutATerminal) {
  // ctest's stderr is not a terminal: lines go through the log, each one when due (interval 0:
  // always), the note from the advance that gave it on, and finish() draws the last line once.
  init_logging("info");
  ::testing::internal::CaptureStderr();
  {
    Progress p("test:", 3, "items", 0, 0.0);
    p.advance();
    p.advance(2, "loss 0.5");
    p.finish();
    p.finish();
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "test: 0/3 items (0%)\n"), 1u) << err;
  EXPECT_EQ(count(err, "test: 1/3 items (33%)\n"), 1u) << err;
  EXPECT_EQ(count(err, "test: 3/3 items (100%)"), 2u) << err;  // the advance's line and the final one
  EXPECT_EQ(count(err, "| loss 0.5"), 2u) << err;
  EXPECT_EQ(count(err, "\n"), 4u) << err;
}

TEST(Progress, AnIntervalHoldsBackLinesButNotTheFinalOne) {
  init_logging("info");
  ::testing::internal::CaptureStderr();
  {
    Progress p("test:", 100, "steps", 0, 3600.0);
    for (int i = 0; i < 100; ++i) p.advance();
    p.finish();
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "\n"), 2u) << err;  // the first line and the final one
  EXPECT_EQ(count(err, "test: 0/100 steps (0%)"), 1u) << err;
  EXPECT_EQ(count(err, "test: 100/100 steps (100%)"), 1u) << err;
}

}  // namespace
}  // namespace medvqa
