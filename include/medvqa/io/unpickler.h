// A restricted pickle reader for torch.save'd state dicts: it builds values (dicts, lists,
// tuples, numbers, strings) and tensor/storage references, and never executes anything. Any
// global outside a short allow-list (OrderedDict, torch's tensor rebuilders and storage types) is
// refused by name. Torch-free so the fuzzer can drive it; torch_pickle.h turns results into tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medvqa {

struct StorageRef {
  std::string dtype;  // safetensors dtype name of the storage type, e.g. "F32" for torch.FloatStorage
  std::string key;    // record name under <archive>/data/
  uint64_t numel = 0;
};

struct TensorRef {
  std::shared_ptr<StorageRef> storage;
  int64_t offset = 0;  // in elements
  std::vector<int64_t> size, stride;
};

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kTensor };
  Kind kind = Kind::kNone;
  int depth = 0;  // nesting of containers, capped so hostile files cannot overflow the stack
  int64_t i = 0;  // kBool, kInt
  double f = 0;   // kFloat
  std::string s;  // kString, kBytes, kGlobal ("module.name")
  std::vector<PyRef> items;                      // kTuple, kList
  std::vector<std::pair<PyRef, PyRef>> entries;  // kDict, insertion order
  std::shared_ptr<StorageRef> storage;           // kGlobal of a storage type after persistent load
  std::shared_ptr<TensorRef> tensor;             // kTensor
};

// Throws Error naming `source`, the byte offset and the problem (unknown opcode, refused global...).
PyRef unpickle(const uint8_t* data, size_t size, const std::string& source);

}  // namespace medvqa
