// What a checkpoint says about one tensor before it is loaded (inspect, strict loading).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace medvqa {

struct TensorInfo {
  std::string name;
  std::string dtype;  // safetensors names: F32, BF16, F16, I64, ...
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  std::string file;
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[768, 3, 16, 16]"

}  // namespace medvqa
