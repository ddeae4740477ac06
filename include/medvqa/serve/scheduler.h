// The model's one owner: a worker thread that takes chat requests from a bounded queue and answers
// them one at a time with the Answerer, with exactly the prompt `ask` builds, so greedy answers
// are `ask`'s. Requests wait in arrival order; a full queue refuses new ones. Continuous batching
// (requests joining the decode batch at step boundaries) is to come. Not here: HTTP, parsing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/serve/completion.h"
#include "medvqa/serve/metrics.h"
#include "medvqa/vision/transform.h"

namespace medvqa::serve {

// One request's work, its image already preprocessed.
struct Job {
  std::string question;
  vision::Pixels pixels;
  int64_t max_tokens = 64;
  double temperature = 0;  // 0 = greedy
  double top_p = 1;
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

class Scheduler {
 public:
  // Loads the model of `config` and starts the worker.
  Scheduler(const Config& config, size_t max_queue, ServeMetrics& metrics);
  // Finishes what is queued and running, then stops the worker.
  ~Scheduler();

  // The request's completion, or nullptr when the queue is full or the scheduler is draining.
  std::shared_ptr<Completion> submit(Job job);
  size_t queued() const;
  size_t running() const;
  // How the model wants its images preprocessed.
  const vision::PreprocessOptions& image_options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medvqa::serve
