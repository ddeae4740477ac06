#include "medvqa/serve/scheduler.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "medvqa/core/clock.h"
#include "medvqa/core/log.h"
#include "medvqa/data/batch.h"
#include "medvqa/data/dataset.h"
#include "medvqa/run/answerer.h"
#include "medvqa/serve/api_error.h"
#include "medvqa/serve/sequence.h"

namespace medvqa::serve {
namespace {

struct Queued {
  Job job;
  std::shared_ptr<Completion> completion;
};

}  // namespace

struct Scheduler::Impl {
  Impl(const Config& config, const SchedulerOptions& options, ServeMetrics& metrics)
      : answerer(config),
        image_options(medvqa::image_options(config)),
        options(options),
        metrics(metrics),
        batch(answerer.decode_batch(options.max_batch, answerer.prompt_options().max_seq_len + options.max_tokens)) {}

  void work() {
    std::map<int64_t, Sequence> sequences;  // by their id in the batch
    for (;;) {
      std::optional<Queued> next;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return !queue.empty() || draining || !sequences.empty(); });
        if (queue.empty() && sequences.empty()) return;  // draining, and nothing is left
        if (!queue.empty() && batch.size() < batch.max_batch()) {
          next = std::move(queue.front());
          queue.pop_front();
        }
        running = sequences.size() + (next ? 1 : 0);
      }
      if (next) admit(*next, sequences);
      for (auto it = sequences.begin(); it != sequences.end();) it = it->second.cancelled() ? leave(it, sequences) : ++it;
      if (!sequences.empty()) step(sequences);
      std::lock_guard<std::mutex> lock(mutex);
      running = sequences.size();
    }
  }

  // The request's image and prompt into the batch, and its first token.
  void admit(Queued& queued, std::map<int64_t, Sequence>& sequences) {
    Sequence sequence(queued.job, queued.completion, answerer.tokenizer(), answerer.stop_ids());
    int64_t id = -1;
    bool over = false;
    const auto start = Clock::now();
    try {
      const at::Tensor features = answerer.image_features(stack_pixels({queued.job.pixels}));
      auto added = batch.add(answerer.prompt_embeds(queued.job.prompt, features));
      id = added.first;
      over = sequence.take(added.second);
      metrics.count_prefill(seconds_since(start));
    } catch (const std::exception& e) {
      if (id >= 0) batch.remove(id);
      const bool client = dynamic_cast<const Error*>(&e) != nullptr;
      if (!client) log_error("serve: a request failed: ", e.what());
      sequence.fail(client ? 400 : 500, client ? e.what() : std::string("the model failed to answer: ") + e.what());
      return;
    }
    if (!over) {
      sequences.emplace(id, std::move(sequence));
      return;
    }
    batch.remove(id);
    sequence.finish(metrics);
  }

  // One decode step for every running sequence; those that are over leave.
  void step(std::map<int64_t, Sequence>& sequences) {
    const std::vector<int64_t> ids = batch.ids();
    std::vector<int64_t> tokens;
    for (int64_t id : ids) tokens.push_back(sequences.at(id).last_token());
    at::Tensor logits;
    const auto start = Clock::now();
    try {
      logits = batch.step(tokens);
      metrics.count_step(static_cast<int64_t>(ids.size()), seconds_since(start));
    } catch (const std::exception& e) {
      log_error("serve: a decode step failed: ", e.what());
      for (auto& [id, sequence] : sequences) {
        batch.remove(id);
        sequence.fail(500, std::string("the model failed to answer: ") + e.what());
      }
      sequences.clear();
      return;
    }
    for (size_t r = 0; r < ids.size(); ++r) {
      auto it = sequences.find(ids[r]);
      if (it->second.take(logits[static_cast<int64_t>(r)])) leave(it, sequences);
    }
  }

  // A sequence that is over leaves the batch, and its request is answered.
  std::map<int64_t, Sequence>::iterator leave(std::map<int64_t, Sequence>::iterator it,
                                              std::map<int64_t, Sequence>& sequences) {
    batch.remove(it->first);
    it->second.finish(metrics);
    return sequences.erase(it);
  }

  Answerer answerer;
  const vision::PreprocessOptions image_options;
  const SchedulerOptions options;
  ServeMetrics& metrics;
  DecodeBatch batch;  // the worker's alone
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<Queued> queue;
  size_t running = 0;
  bool draining = false;
  std::thread worker;
};

Scheduler::Scheduler(const Config& config, const SchedulerOptions& options, ServeMetrics& metrics)
    : impl_(std::make_unique<Impl>(config, options, metrics)) {
  impl_->worker = std::thread([this] { impl_->work(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->draining = true;
  }
  impl_->changed.notify_all();
  impl_->worker.join();
}

std::vector<int64_t> Scheduler::prompt(const std::string& question, const std::string& param) const {
  const int64_t limit = impl_->answerer.prompt_options().max_seq_len;
  Sample sample;
  try {
    sample = impl_->answerer.prompt(question, {}, param);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), param);
  }
  if (sample.truncated)
    throw ApiError(400,
                   param + ": the question does not fit the model's prompt of " + std::to_string(limit) +
                       " tokens (data.max_seq_len) with the image and the chat template; shorten it",
                   param);
  return sample.ids;
}

std::shared_ptr<Completion> Scheduler::submit(Job job) {
  auto completion = std::make_shared<Completion>();
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->draining || impl_->queue.size() >= impl_->options.max_queue) return nullptr;
    impl_->queue.push_back({std::move(job), completion});
  }
  impl_->changed.notify_one();
  return completion;
}

size_t Scheduler::queued() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->queue.size();
}

size_t Scheduler::running() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->running;
}

const vision::PreprocessOptions& Scheduler::image_options() const { return impl_->image_options; }

}  // namespace medvqa::serve
