#include "medvqa/io/torch_pickle.h"

#include <ATen/ATen.h>

#include <cstring>

#include "medvqa/core/error.h"
#include "medvqa/io/mmap_file.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/safetensors_format.h"
#include "medvqa/io/zip_reader.h"

namespace medvqa {
namespace {

constexpr int kMaxFlattenDepth = 16;

std::string key_text(const PyRef& k, const std::string& where) {
  if (k->kind == PyValue::Kind::kString) return k->s;
  if (k->kind == PyValue::Kind::kInt) return std::to_string(k->i);
  MEDVQA_FAIL(where, ": state dict keys must be strings or integers");
}

// {"a": {"b": tensor}} -> "a.b"; non-tensor leaves (versions, step counters) are skipped.
void flatten(const PyRef& v, const std::string& prefix, int depth, const std::string& where,
             std::map<std::string, std::shared_ptr<TensorRef>>& out) {
  MEDVQA_CHECK(depth <= kMaxFlattenDepth, where, ": state dict nested too deeply");
  if (v->kind == PyValue::Kind::kTensor) {
    MEDVQA_CHECK(out.emplace(prefix, v->tensor).second, where, ": tensor name '", prefix, "' appears twice");
    return;
  }
  auto child = [&](const std::string& k) { return prefix.empty() ? k : prefix + "." + k; };
  if (v->kind == PyValue::Kind::kDict)
    for (const auto& [k, x] : v->entries) flatten(x, child(key_text(k, where)), depth + 1, where, out);
  else if (v->kind == PyValue::Kind::kList || v->kind == PyValue::Kind::kTuple)
    for (size_t i = 0; i < v->items.size(); ++i) flatten(v->items[i], child(std::to_string(i)), depth + 1, where, out);
}

}  // namespace

TorchCheckpoint::TorchCheckpoint(const std::string& path) : path_(path), file_(MappedFile::open(path)) {
  const uint8_t* d = file_->data();
  size_t n = file_->size();
  bool zip = n >= 4 && std::memcmp(d, "PK\x03\x04", 4) == 0;
  MEDVQA_CHECK(zip || !(n >= 2 && d[0] == 0x80), path,
               ": legacy (pre-1.6) torch.save format; re-save it with PyTorch >= 1.6: "
               "torch.save(torch.load(OLD, weights_only=True), NEW)");
  MEDVQA_CHECK(zip, path, ": not a torch.save file (expected a zip archive)");
  auto records = read_zip_directory(d, n, path);
  for (const auto& [name, rec] : records) {
    auto slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash + 1) == "data.pkl") prefix_ = name.substr(0, slash + 1);
  }
  MEDVQA_CHECK(!prefix_.empty(), path, ": no <archive>/data.pkl record (not a torch.save file)");
  auto bo = records.find(prefix_ + "byteorder");
  if (bo != records.end()) {
    std::string order(reinterpret_cast<const char*>(d + bo->second.offset), bo->second.size);
    MEDVQA_CHECK(order == "little", path, ": byte order '", order, "' is not supported (expected little)");
  }
  for (const auto& [name, rec] : records)
    if (name.rfind(prefix_ + "data/", 0) == 0) records_[name.substr(prefix_.size() + 5)] = {rec.offset, rec.size};
  const ZipRecord& pkl = records.at(prefix_ + "data.pkl");
  PyRef root = unpickle(d + pkl.offset, pkl.size, path);
  MEDVQA_CHECK(root->kind == PyValue::Kind::kDict, path, ": expected a state dict (a dict of tensors) at the top");
  flatten(root, "", 0, path, refs_);

  for (const auto& [name, t] : refs_) {
    const StorageRef& s = *t->storage;
    auto rec = records_.find(s.key);
    MEDVQA_CHECK(rec != records_.end(), path, ": tensor '", name, "' refers to missing storage record data/", s.key);
    size_t elem = safetensors_dtype_size(s.dtype);
    MEDVQA_CHECK(s.numel <= rec->second.second / elem, path, ": storage data/", s.key, " holds ", rec->second.second,
                 " bytes, ", s.numel, " x ", s.dtype, " declared");
    int64_t last = t->offset, numel = 1;
    bool empty = false;
    for (size_t i = 0; i < t->size.size(); ++i) {
      MEDVQA_CHECK(t->size[i] >= 0 && t->stride[i] >= 0, path, ": tensor '", name, "' has a negative size or stride");
      if (t->size[i] == 0) empty = true;
      else last += (t->size[i] - 1) * t->stride[i];
      numel *= t->size[i];
    }
    MEDVQA_CHECK(t->offset >= 0 && (empty || static_cast<uint64_t>(last) < s.numel), path, ": tensor '", name,
                 "' views past the end of its storage (", s.numel, " elements)");
    infos_.push_back(TensorInfo{name, s.dtype, t->size, static_cast<uint64_t>(numel) * elem, path});
  }
}

at::Tensor TorchCheckpoint::storage(const StorageRef& s) const {
  auto cached = storages_.find(s.key);
  if (cached != storages_.end()) return cached->second;
  auto type = scalar_type_of(s.dtype, path_);
  auto options = at::TensorOptions().dtype(type);
  uint8_t* ptr = file_->data() + records_.at(s.key).first;
  at::Tensor t;
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(type) == 0) {
    auto keep = file_;
    t = at::from_blob(ptr, {static_cast<int64_t>(s.numel)}, [keep](void*) {}, options);
  } else {
    t = at::empty({static_cast<int64_t>(s.numel)}, options);
    std::memcpy(t.data_ptr(), ptr, t.nbytes());
  }
  storages_[s.key] = t;
  return t;
}

at::Tensor TorchCheckpoint::tensor(const std::string& name) const {
  auto it = refs_.find(name);
  MEDVQA_CHECK(it != refs_.end(), path_, ": no tensor named '", name, "'");
  const TensorRef& t = *it->second;
  return storage(*t.storage).as_strided(t.size, t.stride, t.offset);
}

}  // namespace medvqa
