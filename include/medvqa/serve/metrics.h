// The server's counters and their Prometheus text exposition (GET /metrics): requests by route
// and status, the queue, completion tokens and generation time (tokens/s), time to first token,
// decode steps, the rows they carried (the mean batch size) and their time, prefills and theirs.
// Thread-safe; what is counted is decided by the routes and the scheduler.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace medvqa::serve {

class ServeMetrics {
 public:
  void count_request(const std::string& route, int status);
  // One finished generation: its completion tokens, its seconds from joining the decode batch to its
  // last token, and from its arrival to its first token.
  void count_generation(int64_t tokens, double seconds, double first_token_seconds);
  // One decode step of the running batch over `rows` sequences, and its seconds.
  void count_step(int64_t rows, double seconds);
  // One request's admission to the batch (vision tower and prefill), and its seconds.
  void count_prefill(double seconds);
  // The exposition, with the scheduler's current queue length and running requests.
  std::string prometheus(size_t queued, size_t running) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t tokens_ = 0;
  double generation_seconds_ = 0;
  double last_tokens_per_second_ = 0;
  int64_t generations_ = 0;
  double first_token_seconds_ = 0;
  int64_t steps_ = 0;
  int64_t step_rows_ = 0;
  double step_seconds_ = 0;
  int64_t prefills_ = 0;
  double prefill_seconds_ = 0;
};

}  // namespace medvqa::serve
