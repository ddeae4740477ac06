#include "medvqa/io/safetensors.h"

#include <ATen/ATen.h>

#include <set>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/mmap_file.h"

namespace medvqa {
namespace {

const std::vector<std::pair<std::string, c10::ScalarType>>& dtype_table() {
  static const std::vector<std::pair<std::string, c10::ScalarType>> kTable{
      {"F32", c10::kFloat},   {"F16", c10::kHalf},    {"BF16", c10::kBFloat16}, {"F64", c10::kDouble},
      {"I64", c10::kLong},    {"I32", c10::kInt},     {"I16", c10::kShort},     {"I8", c10::kChar},
      {"U8", c10::kByte},     {"BOOL", c10::kBool},   {"U16", c10::kUInt16},    {"U32", c10::kUInt32},
      {"U64", c10::kUInt64},  {"F8_E4M3", c10::kFloat8_e4m3fn}, {"F8_E5M2", c10::kFloat8_e5m2}};
  return kTable;
}

}  // namespace

c10::ScalarType scalar_type_of(const std::string& dtype, const std::string& where) {
  for (const auto& [name, type] : dtype_table())
    if (name == dtype) return type;
  MEDVQA_FAIL(where, ": unsupported dtype '", dtype, "'");
}

std::string safetensors_dtype(c10::ScalarType t) {
  for (const auto& [name, type] : dtype_table())
    if (type == t) return name;
  MEDVQA_FAIL("safetensors: cannot store dtype ", c10::toString(t));
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), file_(MappedFile::open(path)) {
  header_ = parse_safetensors_header(file_->data(), file_->size(), path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  MEDVQA_CHECK(e, path_, ": no tensor named '", name, "'");
  auto type = scalar_type_of(e->dtype, path_ + ": tensor '" + name + "'");
  auto options = at::TensorOptions().dtype(type);
  uint8_t* ptr = file_->data() + header_.data_start + e->begin;
  if (e->begin == e->end) return at::empty(e->shape, options);
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(type) != 0) {
    // Offsets are only byte-aligned by the spec: copy what the mapping cannot serve as-is.
    at::Tensor out = at::empty(e->shape, options);
    std::memcpy(out.data_ptr(), ptr, e->end - e->begin);
    return out;
  }
  auto keep = file_;
  return at::from_blob(ptr, e->shape, [keep](void*) {}, options);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  std::vector<at::Tensor> data;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MEDVQA_CHECK(names.insert(name).second, path, ": tensor '", name, "' given twice");
    MEDVQA_CHECK(name != "__metadata__", path, ": '__metadata__' is reserved");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    SafetensorsEntry e;
    e.name = name;
    e.dtype = safetensors_dtype(c.scalar_type());
    e.shape = c.sizes().vec();
    e.begin = offset;
    e.end = offset += c.nbytes();
    entries.push_back(std::move(e));
    data.push_back(std::move(c));
  }
  std::string header = serialize_safetensors_header(entries, metadata);
  uint64_t n = header.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  AtomicFile out(path);
  out.write(len, 8);
  out.write(header);
  for (const auto& c : data) out.write(c.data_ptr(), c.nbytes());
  out.commit();
}

}  // namespace medvqa
