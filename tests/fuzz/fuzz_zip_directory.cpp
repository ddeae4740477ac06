// Any bytes as a torch.save zip: the directory reader must succeed or throw medvqa::Error.
#include "medvqa/core/error.h"
#include "medvqa/io/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    medvqa::read_zip_directory(data, size, "fuzz");
  } catch (const medvqa::Error&) {
  }
  return 0;
}
