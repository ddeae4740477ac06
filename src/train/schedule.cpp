#include "medvqa/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace medvqa {

int64_t warmup_steps(int64_t total_steps, double warmup_ratio) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
}

double lr_factor(int64_t step, int64_t total_steps, double warmup_ratio) {
  int64_t warmup = warmup_steps(total_steps, warmup_ratio);
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace medvqa
