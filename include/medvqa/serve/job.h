// One chat request's work as the scheduler takes it: the prompt ids, the preprocessed image and the
// generation settings. No torch header: the HTTP side builds it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/core/clock.h"
#include "medvqa/vision/transform.h"

namespace medvqa::serve {

// `ask`'s prompt ids, the image as the model wants it, and the request's settings.
struct Job {
  std::vector<int64_t> prompt;
  vision::Pixels pixels;
  int64_t max_tokens = 64;
  double temperature = 0;  // 0 = greedy
  double top_p = 1;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // answer max_tokens tokens whatever the stop ids (load tests)
  Clock::time_point submitted = Clock::now();  // time to first token counts from here
};

}  // namespace medvqa::serve
