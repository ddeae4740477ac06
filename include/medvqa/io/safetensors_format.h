// The safetensors byte format without tensors: parse and validate a header against the file
// size (every rule of the spec), and serialise one. Torch-free so the fuzzer can drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medvqa {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to data_start, end exclusive
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in file order of their offsets
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length
};

constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

// Bytes per element of a safetensors dtype, 0 if unknown.
size_t safetensors_dtype_size(const std::string& dtype);
// data/size = the whole file. Throws Error naming `source`, what is wrong, expected and got.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& source);
// Header JSON (padded with spaces to a multiple of 8) for entries laid out contiguously in order.
std::string serialize_safetensors_header(const std::vector<SafetensorsEntry>& entries,
                                         const std::map<std::string, std::string>& metadata);

}  // namespace medvqa
