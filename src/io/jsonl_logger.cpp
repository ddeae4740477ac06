#include "medvqa/io/jsonl_logger.h"

#include <nlohmann/json.hpp>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa {

using json = nlohmann::json;

JsonlLogger::JsonlLogger(std::string path, int64_t keep_through_step) : path_(std::move(path)) {
  std::ifstream in(path_);
  std::string kept, line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("step", int64_t(0)) > keep_through_step) continue;
    kept += line + "\n";
  }
  in.close();
  write_file_atomic(path_, kept);
  out_.open(path_, std::ios::app);
  MEDVQA_CHECK(out_, path_, ": cannot open for appending");
}

void JsonlLogger::log_dict(const MetricDict& values, int64_t step) {
  json line{{"step", step}};
  for (const auto& kv : values) std::visit([&](auto v) { line[kv.first] = v; }, kv.second);
  out_ << line.dump() << "\n" << std::flush;
  MEDVQA_CHECK(out_, path_, ": write failed");
}

void JsonlLogger::close() { out_.close(); }

}  // namespace medvqa
