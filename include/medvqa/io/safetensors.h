// safetensors files as tensors: zero-copy reads from a private memory map (copy-on-write, so a
// caller writing into a tensor never touches the file) and atomic writes. The byte-level format
// (header parsing and validation) lives in safetensors_format.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "medvqa/io/safetensors_format.h"

namespace medvqa {

class MappedFile;

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws Error naming the file and the problem
  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const SafetensorsEntry* find(const std::string& name) const;  // nullptr if absent
  // The tensor, sharing the mapping when the data is aligned for its dtype (else a copy).
  at::Tensor tensor(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

c10::ScalarType scalar_type_of(const std::string& dtype, const std::string& where);
std::string safetensors_dtype(c10::ScalarType t);  // "F32", "BF16", ...; throws for unsupported types

// Writes tensors (any device, made contiguous on CPU) in the given order, with an 8-byte aligned
// header and __metadata__; atomic: temp file, fsync, rename.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace medvqa
