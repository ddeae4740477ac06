#include "medvqa/io/metric_logger.h"

#include "medvqa/core/error.h"
#include "medvqa/io/jsonl_logger.h"
#include "medvqa/io/tensorboard_logger.h"

namespace medvqa {

void MetricLoggers::log_dict(const MetricDict& values, int64_t step) {
  for (auto& l : loggers_) l->log_dict(values, step);
}

void MetricLoggers::close() {
  for (auto& l : loggers_) l->close();
}

std::unique_ptr<MetricLoggers> make_metric_loggers(const std::vector<std::string>& names, const MetricLoggerOptions& options) {
  std::vector<std::unique_ptr<MetricLogger>> loggers;
  for (const auto& name : names) {
    if (name == "jsonl")
      loggers.push_back(std::make_unique<JsonlLogger>(options.jsonl_path, options.keep_through_step));
    else if (name == "tensorboard")
      loggers.push_back(std::make_unique<TensorBoardLogger>(options.tensorboard_dir, options.tag,
                                                            options.keep_through_step));
    else
      MEDVQA_FAIL("metric loggers: expected jsonl or tensorboard, got '", name, "'");
  }
  return std::make_unique<MetricLoggers>(std::move(loggers));
}

}  // namespace medvqa
