// One chat request's answer on its way from the scheduler's worker to the HTTP connection: text
// pieces as they are decoded, then the end (finish reason and usage, or an error). The connection
// may cancel it (a client that went away); the worker stops at its next token. Nothing here knows
// HTTP or the model.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "medvqa/serve/chat_response.h"

namespace medvqa::serve {

struct CompletionEnd {
  std::string finish_reason;  // "stop" or "length"; empty when error_status is set
  Usage usage;
  int error_status = 0;  // an HTTP status when the request failed
  std::string error;
};

class Completion {
 public:
  // The worker's side: false once the client has cancelled.
  bool emit(const std::string& text);
  void finish(CompletionEnd end);
  bool cancelled() const;

  // The connection's side: waits at most `timeout` for new text (appended to `text`) or the end;
  // returns the end once every piece has been taken.
  std::optional<CompletionEnd> wait(std::string& text, std::chrono::milliseconds timeout);
  void cancel();

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string pending_;
  std::optional<CompletionEnd> end_;
  bool cancelled_ = false;
};

}  // namespace medvqa::serve
