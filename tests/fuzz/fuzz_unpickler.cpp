// Any bytes as a data.pkl: unpickling must succeed or throw medvqa::Error, never crash or run code.
#include "medvqa/core/error.h"
#include "medvqa/io/unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    medvqa::unpickle(data, size, "fuzz");
  } catch (const medvqa::Error&) {
  }
  return 0;
}
