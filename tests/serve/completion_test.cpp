#include "medvqa/serve/completion.h"

#include <gtest/gtest.h>

#include <thread>

using namespace medvqa::serve;

namespace {

TEST(Completion, HandsOverTextThenTheEnd) {
  Completion c;
  std::thread worker([&] {
    EXPECT_TRUE(c.emit("C"));
    EXPECT_TRUE(c.emit("T"));
    c.finish({"stop", {5, 2}, 0, ""});
  });
  std::string text;
  std::optional<CompletionEnd> end;
  while (!(end = c.wait(text, std::chrono::milliseconds(100)))) {
  }
  worker.join();
  EXPECT_EQ(text, "CT");
  EXPECT_EQ(end->finish_reason, "stop");
  EXPECT_EQ(end->usage.completion_tokens, 2);
}

TEST(Completion, ACancelledCompletionTellsTheWorker) {
  Completion c;
  c.cancel();
  EXPECT_TRUE(c.cancelled());
  EXPECT_FALSE(c.emit("x"));
}

}  // namespace
