// One request in the running decode batch: its token choice (greedy, or sampled with its own seeded
// generator, as `ask` would), its text on the way to the client (UTF-8 pieces, cut at stop strings),
// its usage, finish reason and timings. Not here: the model, the queue, HTTP.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "medvqa/models/generation.h"
#include "medvqa/serve/completion.h"
#include "medvqa/serve/job.h"
#include "medvqa/serve/metrics.h"
#include "medvqa/serve/stop_strings.h"
#include "medvqa/text/stream_decoder.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa::serve {

class Sequence {
 public:
  // `stop_ids` end the answer (unless job.ignore_eos); `tokenizer` turns ids into text.
  Sequence(const Job& job, std::shared_ptr<Completion> completion, const Tokenizer& tokenizer,
           std::vector<int64_t> stop_ids);

  // Chooses the next token from logits [vocab] and hands its text to the client. True once the
  // sequence is over: a stop id or string, max_tokens reached, or a client that went away.
  bool take(const at::Tensor& logits);
  int64_t last_token() const { return last_token_; }
  bool cancelled() const { return completion_->cancelled(); }
  // Ends the request: the text held back (unless a stop string or the client ended it), the finish
  // reason and usage; counted in `metrics` (time to first token from submission, generation time
  // from admission to the batch).
  void finish(ServeMetrics& metrics);
  // Ends the request with an error (an HTTP status and message).
  void fail(int status, const std::string& message);

 private:
  std::shared_ptr<Completion> completion_;
  std::vector<int64_t> stop_ids_;
  SamplingOptions sampling_;
  at::Generator generator_;
  StreamDecoder stream_;
  StopStrings stops_;
  int64_t max_tokens_;
  bool ignore_eos_;
  Clock::time_point submitted_;
  Clock::time_point admitted_ = Clock::now();  // generation time counts from here
  double first_token_s_ = 0;
  int64_t last_token_ = -1;
  bool cut_ = false;  // ended by a stop string or the client: nothing more to send
  CompletionEnd end_;
};

}  // namespace medvqa::serve
