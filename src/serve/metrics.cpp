#include "medvqa/serve/metrics.h"

#include <sstream>

namespace medvqa::serve {

void ServeMetrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void ServeMetrics::count_generation(int64_t tokens, double seconds, double first_token_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_ += tokens;
  generation_seconds_ += seconds;
  if (seconds > 0) last_tokens_per_second_ = double(tokens) / seconds;
  ++generations_;
  first_token_seconds_ += first_token_seconds;
}

void ServeMetrics::count_step(int64_t rows, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++steps_;
  step_rows_ += rows;
  step_seconds_ += seconds;
}

void ServeMetrics::count_prefill(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++prefills_;
  prefill_seconds_ += seconds;
}

std::string ServeMetrics::prometheus(size_t queued, size_t running) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  auto head = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  head("medvqa_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_)
    out << "medvqa_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  head("medvqa_queue_length", "gauge", "Chat requests waiting for the model.");
  out << "medvqa_queue_length " << queued << "\n";
  head("medvqa_running_requests", "gauge", "Chat requests being answered.");
  out << "medvqa_running_requests " << running << "\n";
  head("medvqa_completion_tokens_total", "counter", "Tokens generated.");
  out << "medvqa_completion_tokens_total " << tokens_ << "\n";
  head("medvqa_generation_seconds_total", "counter", "Seconds requests spent in the decode batch (vision tower, prefill, decode), summed over requests.");
  out << "medvqa_generation_seconds_total " << generation_seconds_ << "\n";
  head("medvqa_tokens_per_second", "gauge", "Generation speed of the last finished request: its tokens over its time in the decode batch.");
  out << "medvqa_tokens_per_second " << last_tokens_per_second_ << "\n";
  head("medvqa_time_to_first_token_seconds", "summary", "From a request's arrival (its wait in the queue included) to its first token.");
  out << "medvqa_time_to_first_token_seconds_sum " << first_token_seconds_ << "\n";
  out << "medvqa_time_to_first_token_seconds_count " << generations_ << "\n";
  head("medvqa_decode_steps_total", "counter", "Decode steps of the running batch.");
  out << "medvqa_decode_steps_total " << steps_ << "\n";
  head("medvqa_decode_rows_total", "counter", "Sequences carried by the decode steps, summed (over steps: the mean batch).");
  out << "medvqa_decode_rows_total " << step_rows_ << "\n";
  head("medvqa_decode_seconds_total", "counter", "Seconds in decode steps.");
  out << "medvqa_decode_seconds_total " << step_seconds_ << "\n";
  head("medvqa_prefill_seconds", "summary", "Seconds a request takes to join the batch (vision tower and prefill).");
  out << "medvqa_prefill_seconds_sum " << prefill_seconds_ << "\n";
  out << "medvqa_prefill_seconds_count " << prefills_ << "\n";
  return out.str();
}

}  // namespace medvqa::serve
