// Learning-rate schedule: linear warmup then cosine decay to zero, as transformers'
// get_cosine_schedule_with_warmup with warmup steps = ceil(warmup_ratio * total).
#pragma once

#include <cstdint>

namespace medvqa {

int64_t warmup_steps(int64_t total_steps, double warmup_ratio);
// Multiplier of the peak rate for the optimizer step `step` (0-based).
double lr_factor(int64_t step, int64_t total_steps, double warmup_ratio);

}  // namespace medvqa
