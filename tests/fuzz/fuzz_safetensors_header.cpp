// Any bytes as a whole safetensors file: parsing must succeed or throw medvqa::Error, never crash.
#include "medvqa/core/error.h"
#include "medvqa/io/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    medvqa::parse_safetensors_header(data, size, "fuzz");
  } catch (const medvqa::Error&) {
  }
  return 0;
}
