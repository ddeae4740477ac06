// torch.save files (.bin/.pt/.pth, the zip format since PyTorch 1.6) holding a state dict:
// read in place through a private memory map, tensors viewing the mapped storages (shared
// storages stay shared). Nested dicts flatten to dotted names. The legacy format is refused
// with instructions to re-save.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "medvqa/io/tensor_info.h"
#include "medvqa/io/unpickler.h"

namespace medvqa {

class MappedFile;

class TorchCheckpoint {
 public:
  explicit TorchCheckpoint(const std::string& path);  // throws Error naming the file and the problem
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  at::Tensor tensor(const std::string& name) const;

 private:
  at::Tensor storage(const StorageRef& s) const;

  std::string path_, prefix_;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, std::pair<uint64_t, uint64_t>> records_;  // data/<key> -> (offset, size)
  std::map<std::string, std::shared_ptr<TensorRef>> refs_;
  std::vector<TensorInfo> infos_;
  mutable std::map<std::string, at::Tensor> storages_;
};

}  // namespace medvqa
