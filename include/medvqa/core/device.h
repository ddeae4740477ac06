// Device, dtype and thread settings as users write them ("auto", "cuda:1", "bf16").
// Parsing and resolving only; what runs where is decided by the callers.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace medvqa {

// "auto" -> cuda:0 when CUDA is available, else cpu; "cpu", "cuda", "cuda:N".
c10::Device parse_device(const std::string& text);
// "auto" -> bf16 on CUDA, fp32 on CPU; "fp32"|"float32", "bf16"|"bfloat16", "fp16"|"float16".
c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device);
std::string dtype_name(c10::ScalarType t);  // "fp32", "bf16", "fp16", ...
// n <= 0 -> the number of cores. Sets LibTorch's intra-op threads (it may default to 1).
void set_threads(int n);

}  // namespace medvqa
