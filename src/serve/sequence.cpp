#include "medvqa/serve/sequence.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "medvqa/core/clock.h"
#include "medvqa/text/utf8.h"

namespace medvqa::serve {

Sequence::Sequence(const Job& job, std::shared_ptr<Completion> completion, const Tokenizer& tokenizer,
                   std::vector<int64_t> stop_ids)
    : completion_(std::move(completion)),
      stop_ids_(std::move(stop_ids)),
      generator_(at::make_generator<at::CPUGeneratorImpl>(job.seed)),
      stream_(tokenizer),
      stops_(job.stop),
      max_tokens_(job.max_tokens),
      ignore_eos_(job.ignore_eos),
      submitted_(job.submitted) {
  sampling_.greedy = job.temperature == 0;
  sampling_.temperature = job.temperature;
  sampling_.top_p = job.top_p;
  end_.finish_reason = "length";
  end_.usage.prompt_tokens = static_cast<int64_t>(job.prompt.size());
}

bool Sequence::take(const at::Tensor& logits) {
  last_token_ = choose_tokens(logits.unsqueeze(0), sampling_, generator_).item<int64_t>();
  if (end_.usage.completion_tokens++ == 0) first_token_s_ = seconds_since(submitted_);
  if (!ignore_eos_ && std::find(stop_ids_.begin(), stop_ids_.end(), last_token_) != stop_ids_.end()) {
    end_.finish_reason = "stop";
    return true;
  }
  const std::string text = stops_.push(replace_invalid_utf8(stream_.push(static_cast<int32_t>(last_token_))));
  const bool wanted = completion_->emit(text);
  if (stops_.stopped()) end_.finish_reason = "stop";
  cut_ = stops_.stopped() || !wanted;
  return cut_ || end_.usage.completion_tokens == max_tokens_;
}

void Sequence::finish(ServeMetrics& metrics) {
  if (!cut_) completion_->emit(stops_.push(replace_invalid_utf8(stream_.flush())) + stops_.finish());
  metrics.count_generation(end_.usage.completion_tokens, seconds_since(admitted_), first_token_s_);
  completion_->finish(std::move(end_));
}

void Sequence::fail(int status, const std::string& message) {
  completion_->finish({"", end_.usage, status, message});
}

}  // namespace medvqa::serve
