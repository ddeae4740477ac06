#include "medvqa/serve/scheduler.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "medvqa/core/log.h"
#include "medvqa/data/batch.h"
#include "medvqa/data/dataset.h"
#include "medvqa/run/answerer.h"
#include "medvqa/serve/stop_strings.h"
#include "medvqa/text/stream_decoder.h"
#include "medvqa/text/utf8.h"

namespace medvqa::serve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Thrown from the token callback to end a generation early: a stop string or a cancelled client.
struct EndGeneration {};

struct Queued {
  Job job;
  std::shared_ptr<Completion> completion;
};

}  // namespace

struct Scheduler::Impl {
  Impl(const Config& config, size_t max_queue, ServeMetrics& metrics)
      : answerer(config), image_options(medvqa::image_options(config)), max_queue(max_queue), metrics(metrics) {}

  void work() {
    for (;;) {
      Queued next;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return !queue.empty() || draining; });
        if (queue.empty()) return;
        next = std::move(queue.front());
        queue.pop_front();
        running = 1;
      }
      answer(next.job, *next.completion);
      std::lock_guard<std::mutex> lock(mutex);
      running = 0;
    }
  }

  void answer(const Job& job, Completion& completion) {
    CompletionEnd end;
    try {
      // `ask`'s prompt: the question alone, no options.
      const std::vector<int64_t> prompt = answerer.prompt_ids(job.question, {}, "messages[0].content");
      end.usage.prompt_tokens = static_cast<int64_t>(prompt.size());
      SamplingOptions sampling;
      sampling.greedy = job.temperature == 0;
      sampling.temperature = job.temperature;
      sampling.top_p = job.top_p;
      sampling.seed = job.seed;
      StreamDecoder stream(answerer.tokenizer());
      StopStrings stops(job.stop);
      end.finish_reason = "length";
      const auto start = Clock::now();
      double first_token_s = 0;
      try {
        at::Tensor features = answerer.image_features(stack_pixels({job.pixels}));
        answerer.generate(
            {prompt}, features, job.max_tokens,
            [&](size_t, int64_t id) {
              if (end.usage.completion_tokens++ == 0) first_token_s = seconds_since(start);
              if (answerer.is_stop(id)) {
                end.finish_reason = "stop";
                return;
              }
              const std::string text = stops.push(replace_invalid_utf8(stream.push(static_cast<int32_t>(id))));
              const bool wanted = completion.emit(text);
              if (stops.stopped()) end.finish_reason = "stop";
              if (stops.stopped() || !wanted) throw EndGeneration{};
            },
            sampling);
        completion.emit(stops.push(replace_invalid_utf8(stream.flush())) + stops.finish());
      } catch (const EndGeneration&) {
      }
      metrics.count_generation(end.usage.completion_tokens, seconds_since(start), first_token_s);
    } catch (const Error& e) {
      end = {"", end.usage, 400, e.what()};
    } catch (const std::exception& e) {
      log_error("serve: a request failed: ", e.what());
      end = {"", end.usage, 500, std::string("the model failed to answer: ") + e.what()};
    }
    completion.finish(std::move(end));
  }

  Answerer answerer;
  const vision::PreprocessOptions image_options;
  const size_t max_queue;
  ServeMetrics& metrics;
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<Queued> queue;
  size_t running = 0;
  bool draining = false;
  std::thread worker;
};

Scheduler::Scheduler(const Config& config, size_t max_queue, ServeMetrics& metrics)
    : impl_(std::make_unique<Impl>(config, max_queue, metrics)) {
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

std::shared_ptr<Completion> Scheduler::submit(Job job) {
  auto completion = std::make_shared<Completion>();
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->draining || impl_->queue.size() >= impl_->max_queue) return nullptr;
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
