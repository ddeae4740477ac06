// Where training and evaluation send their numbers, behind one small interface in the shape of
// torchtune's MetricLogger: log(name, value, step), log_dict(values, step), close(). The loggers
// themselves are jsonl_logger.h (metrics.jsonl) and tensorboard_logger.h (event files); this file
// owns the interface, the fan-out to several loggers and building them from a config list.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace medvqa {

// Counts stay integers (metrics.jsonl writes 12, not 12.0); TensorBoard gets every value as float.
using MetricValue = std::variant<int64_t, double>;
using MetricDict = std::vector<std::pair<std::string, MetricValue>>;

class MetricLogger {
 public:
  virtual ~MetricLogger() = default;
  // All values of one step together; a logger makes them durable before returning (a kill
  // afterwards loses none of them).
  virtual void log_dict(const MetricDict& values, int64_t step) = 0;
  void log(const std::string& name, MetricValue value, int64_t step) { log_dict({{name, value}}, step); }
  virtual void close() = 0;
};

// Every logger of a run, fed the same values.
class MetricLoggers : public MetricLogger {
 public:
  explicit MetricLoggers(std::vector<std::unique_ptr<MetricLogger>> loggers) : loggers_(std::move(loggers)) {}
  void log_dict(const MetricDict& values, int64_t step) override;
  void close() override;

 private:
  std::vector<std::unique_ptr<MetricLogger>> loggers_;
};

struct MetricLoggerOptions {
  std::string jsonl_path;       // "jsonl": the file
  std::string tensorboard_dir;  // "tensorboard": the folder of the event files
  std::function<std::string(const std::string&)> tag;  // metric name -> TensorBoard tag
  // A resumed run keeps what earlier runs logged through this step and drops the rest; -1 keeps nothing.
  int64_t keep_through_step = -1;
};

// The loggers named by a config list (train.loggers, eval.loggers: "jsonl", "tensorboard"), in order.
std::unique_ptr<MetricLoggers> make_metric_loggers(const std::vector<std::string>& names, const MetricLoggerOptions& options);

}  // namespace medvqa
