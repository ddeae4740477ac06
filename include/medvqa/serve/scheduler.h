// The model's one owner: a worker thread that answers chat requests by continuous batching. Requests
// wait in a bounded queue in arrival order (a full queue refuses new ones); between two decode steps
// at most one joins the running batch (its vision tower and prefill, so the others stall for one
// prefill at most), and finished or abandoned ones leave it. Each is answered with exactly the
// prompt `ask` builds, and on the CPU its logits do not depend on the batch (decode_batch.h), so
// greedy answers are `ask`'s. Not here: HTTP, parsing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/serve/completion.h"
#include "medvqa/serve/metrics.h"
#include "medvqa/serve/job.h"
#include "medvqa/vision/transform.h"

namespace medvqa::serve {

struct SchedulerOptions {
  int64_t max_batch = 8;   // sequences decoded together
  size_t max_queue = 64;   // requests waiting to join
  int64_t max_tokens = 1024;  // the longest answer a request may ask for (sizes the KV cache)
};

class Scheduler {
 public:
  // Loads the model of `config` and starts the worker.
  Scheduler(const Config& config, const SchedulerOptions& options, ServeMetrics& metrics);
  // Finishes what is queued and running, then stops the worker.
  ~Scheduler();

  // `ask`'s prompt ids for a question; an ApiError (400, naming `param`) when it does not fit
  // data.max_seq_len. Thread-safe.
  std::vector<int64_t> prompt(const std::string& question, const std::string& param) const;
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
