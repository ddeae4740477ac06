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
  // A metric of one sample: a counter or a gauge (integers printed as integers).
  auto one = [&](const char* name, const char* type, const char* help, auto value) {
    head(name, type, help);
    out << name << " " << value << "\n";
  };
  // A summary without quantiles: its sum and count.
  auto summary = [&](const char* name, const char* help, double sum, int64_t count) {
    head(name, "summary", help);
    out << name << "_sum " << sum << "\n" << name << "_count " << count << "\n";
  };
  head("medvqa_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_)
    out << "medvqa_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  one("medvqa_queue_length", "gauge", "Chat requests waiting for the model.", queued);
  one("medvqa_running_requests", "gauge", "Chat requests being answered.", running);
  one("medvqa_completion_tokens_total", "counter", "Tokens generated.", tokens_);
  one("medvqa_generation_seconds_total", "counter",
      "Seconds requests spent in the decode batch (vision tower, prefill, decode), summed over requests.",
      generation_seconds_);
  one("medvqa_tokens_per_second", "gauge",
      "Generation speed of the last finished request: its tokens over its time in the decode batch.",
      last_tokens_per_second_);
  summary("medvqa_time_to_first_token_seconds",
          "From a request's arrival (its wait in the queue included) to its first token.", first_token_seconds_,
          generations_);
  one("medvqa_decode_steps_total", "counter", "Decode steps of the running batch.", steps_);
  one("medvqa_decode_rows_total", "counter", "Sequences carried by the decode steps, summed (over steps: the mean batch).",
      step_rows_);
  one("medvqa_decode_seconds_total", "counter", "Seconds in decode steps.", step_seconds_);
  summary("medvqa_prefill_seconds", "Seconds a request takes to join the batch (vision tower and prefill).",
          prefill_seconds_, prefills_);
  return out.str();
}

}  // namespace medvqa::serve
