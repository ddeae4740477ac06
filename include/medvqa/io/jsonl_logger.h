// metrics.jsonl: one JSON object per log_dict call, {"step": N, name: value, ...} with the keys in
// nlohmann::json's (sorted) order, flushed at once. Not the TensorBoard files (tensorboard_logger.h).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "medvqa/io/metric_logger.h"

namespace medvqa {

class JsonlLogger : public MetricLogger {
 public:
  // Keeps the lines of an existing file with step <= keep_through_step (a resumed run drops what the
  // interrupted one wrote after its checkpoint; -1 keeps none), rewritten atomically, then appends.
  JsonlLogger(std::string path, int64_t keep_through_step);
  void log_dict(const MetricDict& values, int64_t step) override;
  void close() override;

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace medvqa
