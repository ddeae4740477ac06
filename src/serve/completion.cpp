#include "medvqa/serve/completion.h"

namespace medvqa::serve {

bool Completion::emit(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ += text;
  changed_.notify_all();
  return !cancelled_;
}

void Completion::finish(CompletionEnd end) {
  std::lock_guard<std::mutex> lock(mutex_);
  end_ = std::move(end);
  changed_.notify_all();
}

bool Completion::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancelled_;
}

std::optional<CompletionEnd> Completion::wait(std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !pending_.empty() || end_; });
  text += pending_;
  const bool drained = !pending_.empty();
  pending_.clear();
  // Text first: the end is reported by the call that finds nothing left to hand over.
  if (drained || !end_) return std::nullopt;
  return end_;
}

void Completion::cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
}

}  // namespace medvqa::serve
