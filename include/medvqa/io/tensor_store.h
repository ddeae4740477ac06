// One view over the tensors of a checkpoint, whatever its form: a .safetensors file, a sharded
// HF checkpoint (model.safetensors.index.json), a torch.save file, or a model directory holding
// one of those. Loaders and `inspect` see names, dtypes, shapes and the file each tensor is in.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "medvqa/io/tensor_info.h"

namespace medvqa {

class SafetensorsFile;
class TorchCheckpoint;

class TensorStore {
 public:
  // A file, or a directory: model.safetensors.index.json, else the one *.safetensors file, else
  // the one torch.save file (*.bin, *.pt, *.pth). Throws Error naming what is missing or wrong.
  static TensorStore open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return infos_; }  // sorted by name
  const TensorInfo* find(const std::string& name) const;
  at::Tensor load(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t total_bytes() const;
  uint64_t total_params() const;

 private:
  void add_safetensors(const std::string& file);
  void add_torch(const std::string& file);
  void add_index(const std::string& index_path);
  void finish();

  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> safetensors_;
  std::shared_ptr<TorchCheckpoint> torch_;
  std::map<std::string, std::pair<int, size_t>> where_;  // name -> (source: -1 = torch, else shard; info index)
  std::vector<TensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace medvqa
