// A request's way through the decode batch, fed chosen tokens (one-hot logits): stop ids end it
// unless ignore_eos, stop strings cut its text, max_tokens ends it as "length", a client that went
// away ends it at the next token.
#include "medvqa/serve/sequence.h"

#include <gtest/gtest.h>

namespace medvqa::serve {
namespace {

constexpr int64_t kEot = 128009;

const Tokenizer& llama3() {
  static const auto tokenizer = load_tokenizer(std::string(MEDVQA_SOURCE_DIR) + "/third_party/llama3/tokenizer.model");
  return *tokenizer;
}

at::Tensor one_hot(int64_t id) {
  at::Tensor logits = torch::zeros({128256});
  logits[id] = 1;
  return logits;
}

struct Answered {
  std::string text;
  CompletionEnd end;
  int64_t fed = 0;  // tokens taken before the sequence said it was over
};

// Feeds `ids` (as chosen tokens) until the sequence is over, then the request's text and end.
Answered run(Job job, const std::vector<int64_t>& ids, bool cancel = false) {
  auto completion = std::make_shared<Completion>();
  if (cancel) completion->cancel();
  Sequence sequence(job, completion, llama3(), {kEot});
  Answered out;
  while (out.fed < static_cast<int64_t>(ids.size()) && !sequence.take(one_hot(ids[out.fed++]))) {
  }
  ServeMetrics metrics;
  sequence.finish(metrics);
  std::optional<CompletionEnd> end;
  while (!(end = completion->wait(out.text, std::chrono::milliseconds(100)))) {
  }
  out.end = *end;
  return out;
}

std::vector<int64_t> ids(const std::string& text, std::vector<int64_t> then = {}) {
  std::vector<int64_t> out;
  for (int32_t id : llama3().encode(text, Specials::kPlain)) out.push_back(id);
  out.insert(out.end(), then.begin(), then.end());
  return out;
}

Job job(int64_t max_tokens) {
  Job j;
  j.prompt = {1, 2, 3};
  j.max_tokens = max_tokens;
  return j;
}

TEST(Sequence, AStopIdEndsTheAnswer) {
  const auto tokens = ids("CT scan", {kEot, 40, 41});
  const Answered a = run(job(16), tokens);
  EXPECT_EQ(a.text, "CT scan");
  EXPECT_EQ(a.end.finish_reason, "stop");
  EXPECT_EQ(a.fed, static_cast<int64_t>(tokens.size()) - 2);
  EXPECT_EQ(a.end.usage.completion_tokens, a.fed);
  EXPECT_EQ(a.end.usage.prompt_tokens, 3);
}

TEST(Sequence, IgnoreEosAnswersMaxTokens) {
  Job j = job(5);
  j.ignore_eos = true;
  const Answered a = run(j, ids("CT", {kEot, kEot, kEot, kEot, kEot, kEot}));
  EXPECT_EQ(a.fed, 5);
  EXPECT_EQ(a.end.finish_reason, "length");
  EXPECT_EQ(a.end.usage.completion_tokens, 5);
}

TEST(Sequence, MaxTokensEndsAsLength) {
  const Answered a = run(job(2), ids("one two three four"));
  EXPECT_EQ(a.fed, 2);
  EXPECT_EQ(a.text, "one two");
  EXPECT_EQ(a.end.finish_reason, "length");
}

TEST(Sequence, AStopStringCutsTheText) {
  Job j = job(16);
  j.stop = {" scan"};
  const Answered a = run(j, ids("CT scan of the head"));
  EXPECT_EQ(a.text, "CT");
  EXPECT_EQ(a.end.finish_reason, "stop");
}

TEST(Sequence, AClientThatLeftEndsItAtTheNextToken) {
  const Answered a = run(job(16), ids("one two three"), /*cancel=*/true);
  EXPECT_EQ(a.fed, 1);
}

}  // namespace
}  // namespace medvqa::serve
