#include "medvqa/config/config.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "medvqa/core/error.h"

namespace medvqa {

void Config::validate(Problems& problems) const {
  if (data.split.size() != 3) {
    problems.add(detail::concat("data.split: expected 3 fractions [train, val, test], got ", data.split.size()));
  } else {
    double sum = std::accumulate(data.split.begin(), data.split.end(), 0.0);
    bool nonneg = data.split[0] >= 0 && data.split[1] >= 0 && data.split[2] >= 0;
    if (!nonneg || std::abs(sum - 1.0) > 1e-6)
      problems.add(detail::concat("data.split: expected non-negative fractions summing to 1, got sum ", sum));
  }
  static const std::vector<std::string> kTargets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const auto& t : model.lora.targets)
    if (std::find(kTargets.begin(), kTargets.end(), t) == kTargets.end()) {
      std::string hint = config::closest(t, kTargets);
      problems.add(detail::concat("model.lora.targets: unknown layer '", t, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)",
                                  "; allowed: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj"));
    }
  if (model.lora.r > 0 && model.lora.alpha <= 0)
    problems.add(detail::concat("model.lora.alpha: expected > 0 when model.lora.r > 0, got ", model.lora.alpha));
  if (model.image_token_id == model.pad_token_id)
    problems.add(detail::concat("model.pad_token_id: must differ from model.image_token_id (both ", model.pad_token_id, ")"));
}

}  // namespace medvqa
