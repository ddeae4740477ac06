#include "medvqa/core/error.h"

namespace medvqa {

void Problems::throw_if_any(const std::string& headline) const {
  if (items_.empty()) return;
  std::string msg = headline + " (" + std::to_string(items_.size()) +
                    (items_.size() == 1 ? " problem)" : " problems)");
  for (const auto& p : items_) msg += "\n  - " + p;
  throw Error(msg);
}

}  // namespace medvqa
