// TensorBoard scalars: one event file per process in a folder (`tensorboard --logdir` reads it),
// one scalar Event per value, flushed after each log_dict so a kill leaves a file readable up to the
// cut. A resumed run rewrites what earlier runs left into its own new file (see the constructor).
// The byte format is tfevents.h's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "medvqa/io/metric_logger.h"

namespace medvqa {

class TensorBoardLogger : public MetricLogger {
 public:
  // Opens a new dir/events.out.tfevents.<unix seconds>.<hostname>.<pid> holding the scalar events of
  // the folder's earlier event files with step <= keep_through_step (-1: none), which it deletes.
  // `tag` maps a metric name to its TensorBoard tag (empty: the name itself).
  TensorBoardLogger(std::string dir, std::function<std::string(const std::string&)> tag, int64_t keep_through_step);
  ~TensorBoardLogger() override;
  TensorBoardLogger(const TensorBoardLogger&) = delete;
  TensorBoardLogger& operator=(const TensorBoardLogger&) = delete;

  void log_dict(const MetricDict& values, int64_t step) override;
  void close() override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::function<std::string(const std::string&)> tag_;
  std::FILE* file_ = nullptr;
};

}  // namespace medvqa
