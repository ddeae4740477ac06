#include "medvqa/core/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <thread>

#include "medvqa/core/error.h"

namespace medvqa {

c10::Device parse_device(const std::string& text) {
  if (text == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (text != "cpu" && text.rfind("cuda", 0) != 0)
    MEDVQA_FAIL("device: expected auto, cpu, cuda or cuda:N, got '", text, "'");
  try {
    c10::Device device(text);
    if (device.is_cuda()) {
      MEDVQA_CHECK(torch::cuda::is_available(), "device: '", text, "' requested but CUDA is not available here");
      MEDVQA_CHECK(!device.has_index() || device.index() < static_cast<int>(torch::cuda::device_count()),
                   "device: '", text, "' requested but only ", torch::cuda::device_count(), " GPU(s) are visible");
    }
    return device;
  } catch (const c10::Error&) {
    MEDVQA_FAIL("device: expected auto, cpu, cuda or cuda:N, got '", text, "'");
  }
}

c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device) {
  if (text == "auto") return device.is_cuda() ? c10::kBFloat16 : c10::kFloat;
  if (text == "fp32" || text == "float32") return c10::kFloat;
  if (text == "bf16" || text == "bfloat16") return c10::kBFloat16;
  if (text == "fp16" || text == "float16") return c10::kHalf;
  MEDVQA_FAIL("dtype: expected auto, fp32, bf16 or fp16, got '", text, "'");
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return c10::toString(t);
  }
}

void set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
}

}  // namespace medvqa
