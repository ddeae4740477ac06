#include "medvqa/io/metric_logger.h"

#include <filesystem>

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
  namespace fs = std::filesystem;
  std::vector<std::unique_ptr<MetricLogger>> loggers;
  for (const auto& name : names) {
    if (name == "jsonl")
      loggers.push_back(std::make_unique<JsonlLogger>((fs::path(options.dir) / options.jsonl_name).string(),
                                                      options.keep_through_step));
    else if (name == "tensorboard")
      loggers.push_back(std::make_unique<TensorBoardLogger>((fs::path(options.dir) / "tb").string(), options.tag,
                                                            options.keep_through_step));
    else
      MEDVQA_FAIL("metric loggers: expected jsonl or tensorboard, got '", name, "'");
  }
  return std::make_unique<MetricLoggers>(std::move(loggers));
}

}  // namespace medvqa
