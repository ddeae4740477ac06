#include "medvqa/io/tensor_store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "medvqa/core/error.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/torch_pickle.h"

namespace medvqa {

namespace fs = std::filesystem;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

bool is_torch_file(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".bin" || ext == ".pt" || ext == ".pth";
}

std::vector<fs::path> files_where(const fs::path& dir, bool (*pred)(const fs::path&)) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && pred(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string list(const std::vector<fs::path>& files) {
  std::string s;
  for (const auto& f : files) s += (s.empty() ? "" : ", ") + f.filename().string();
  return s;
}

}  // namespace

TensorStore TensorStore::open(const std::string& path) {
  TensorStore store;
  store.path_ = path;
  MEDVQA_CHECK(fs::exists(path), path, ": no such file or directory");
  if (fs::is_directory(path)) {
    fs::path dir(path);
    if (fs::exists(dir / "model.safetensors.index.json")) {
      store.add_index((dir / "model.safetensors.index.json").string());
    } else if (auto st = files_where(dir, [](const fs::path& p) { return p.extension() == ".safetensors"; }); !st.empty()) {
      MEDVQA_CHECK(st.size() == 1, path, ": ", st.size(), " safetensors files (", list(st),
                   ") but no model.safetensors.index.json saying how they combine");
      store.add_safetensors(st[0].string());
    } else if (auto pt = files_where(dir, is_torch_file); !pt.empty()) {
      MEDVQA_CHECK(pt.size() == 1, path, ": ", pt.size(), " torch.save files (", list(pt), "); expected one");
      store.add_torch(pt[0].string());
    } else {
      MEDVQA_FAIL(path, ": no weights found (expected model.safetensors.index.json, a .safetensors file or a "
                        "torch.save .bin/.pt/.pth file)");
    }
  } else if (path.size() > 11 && path.compare(path.size() - 11, 11, ".index.json") == 0) {
    store.add_index(path);
  } else if (is_torch_file(path)) {
    store.add_torch(path);
  } else {
    store.add_safetensors(path);
  }
  store.finish();
  return store;
}

void TensorStore::add_safetensors(const std::string& file) {
  auto st = std::make_shared<SafetensorsFile>(file);
  int source = static_cast<int>(safetensors_.size());
  for (const auto& e : st->header().tensors) {
    MEDVQA_CHECK(!where_.count(e.name), file, ": tensor '", e.name, "' also appears in ",
                 infos_[where_[e.name].second].file);
    where_[e.name] = {source, infos_.size()};
    infos_.push_back(TensorInfo{e.name, e.dtype, e.shape, e.end - e.begin, file});
  }
  for (const auto& [k, v] : st->header().metadata) metadata_[k] = v;
  safetensors_.push_back(std::move(st));
}

void TensorStore::add_torch(const std::string& file) {
  torch_ = std::make_shared<TorchCheckpoint>(file);
  for (const auto& info : torch_->tensors()) {
    where_[info.name] = {-1, infos_.size()};
    infos_.push_back(info);
  }
}

void TensorStore::add_index(const std::string& index_path) {
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(std::ifstream(index_path));
  } catch (const nlohmann::json::exception& e) {
    MEDVQA_FAIL(index_path, ": invalid JSON: ", e.what());
  }
  MEDVQA_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), index_path,
               ": expected {\"weight_map\": {tensor: shard file}}");
  std::map<std::string, std::set<std::string>> shards;
  for (const auto& [name, file] : index["weight_map"].items()) {
    MEDVQA_CHECK(file.is_string(), index_path, ": weight_map['", name, "'] must be a file name");
    shards[file.get<std::string>()].insert(name);
  }
  fs::path dir = fs::path(index_path).parent_path();
  Problems problems;
  for (const auto& [file, names] : shards) {
    std::string shard = (dir / file).string();
    if (!fs::exists(shard)) {
      problems.add("missing shard " + shard + " (" + std::to_string(names.size()) + " tensors)");
      continue;
    }
    size_t before = infos_.size();
    add_safetensors(shard);
    std::set<std::string> found;
    for (size_t i = before; i < infos_.size(); ++i) found.insert(infos_[i].name);
    for (const auto& n : names)
      if (!found.count(n)) problems.add("tensor '" + n + "' is mapped to " + file + " but not in it");
    for (const auto& n : found)
      if (!names.count(n)) problems.add("tensor '" + n + "' in " + file + " is not in the weight_map");
  }
  problems.throw_if_any(index_path + ": sharded checkpoint is inconsistent");
  if (index.contains("metadata") && index["metadata"].is_object())
    for (const auto& [k, v] : index["metadata"].items()) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
}

void TensorStore::finish() {
  std::vector<size_t> order(infos_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return infos_[a].name < infos_[b].name; });
  std::vector<TensorInfo> sorted;
  for (size_t i : order) {
    where_[infos_[i].name].second = sorted.size();
    sorted.push_back(std::move(infos_[i]));
  }
  infos_ = std::move(sorted);
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : &infos_[it->second.second];
}

at::Tensor TensorStore::load(const std::string& name) const {
  auto it = where_.find(name);
  MEDVQA_CHECK(it != where_.end(), path_, ": no tensor named '", name, "'");
  int source = it->second.first;
  return source < 0 ? torch_->tensor(name) : safetensors_[source]->tensor(name);
}

uint64_t TensorStore::total_bytes() const {
  uint64_t n = 0;
  for (const auto& i : infos_) n += i.bytes;
  return n;
}

uint64_t TensorStore::total_params() const {
  uint64_t n = 0;
  for (const auto& i : infos_) {
    uint64_t p = 1;
    for (auto d : i.shape) p *= static_cast<uint64_t>(d);
    n += p;
  }
  return n;
}

}  // namespace medvqa
