#include "medvqa/io/safetensors_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

#include "medvqa/core/error.h"

namespace medvqa {

using json = nlohmann::json;

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> kSizes{
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

namespace {

// Bytes of a tensor; throws on negative dims or overflow of 64 bits.
uint64_t checked_bytes(const std::vector<int64_t>& shape, size_t elem, const std::string& where) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    MEDVQA_CHECK(d >= 0, where, ": negative dimension ", d);
    MEDVQA_CHECK(d == 0 || n <= UINT64_MAX / static_cast<uint64_t>(d), where, ": shape overflows 64-bit size");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

SafetensorsEntry parse_entry(const std::string& name, const json& v, const std::string& where) {
  MEDVQA_CHECK(v.is_object(), where, ": expected an object with dtype, shape, data_offsets");
  SafetensorsEntry e;
  e.name = name;
  MEDVQA_CHECK(v.contains("dtype") && v["dtype"].is_string(), where, ": missing or non-string \"dtype\"");
  e.dtype = v["dtype"].get<std::string>();
  size_t elem = safetensors_dtype_size(e.dtype);
  MEDVQA_CHECK(elem > 0, where, ": unknown dtype '", e.dtype, "' (expected BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2)");
  MEDVQA_CHECK(v.contains("shape") && v["shape"].is_array(), where, ": missing or non-array \"shape\"");
  for (const auto& d : v["shape"]) {
    MEDVQA_CHECK(d.is_number_integer(), where, ": shape entries must be integers, got ", d.dump());
    MEDVQA_CHECK(d.is_number_unsigned() || d.get<int64_t>() >= 0, where, ": negative dimension ", d.dump());
    e.shape.push_back(d.get<int64_t>());
  }
  const json& off = v.contains("data_offsets") ? v["data_offsets"] : json();
  MEDVQA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), where,
               ": \"data_offsets\" must be [begin, end] non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  MEDVQA_CHECK(e.begin <= e.end, where, ": data_offsets begin ", e.begin, " > end ", e.end);
  uint64_t bytes = checked_bytes(e.shape, elem, where);
  MEDVQA_CHECK(bytes == e.end - e.begin, where, ": dtype ", e.dtype, " x shape needs ", bytes, " bytes, data_offsets span ",
               e.end - e.begin);
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& source) {
  MEDVQA_CHECK(size >= 8, source, ": truncated safetensors file (", size, " bytes, need at least 8)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  MEDVQA_CHECK(n <= kSafetensorsMaxHeader, source, ": header length ", n, " exceeds the limit of ", kSafetensorsMaxHeader,
               " bytes (not a safetensors file?)");
  MEDVQA_CHECK(n <= size - 8, source, ": header length ", n, " runs past the end of the file (", size, " bytes)");
  std::set<std::string> seen;
  std::string duplicate;
  // nlohmann keeps the last of duplicate keys silently; the callback sees each top-level key.
  json::parser_callback_t on_key = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n, on_key);
  } catch (const json::exception& e) {
    MEDVQA_FAIL(source, ": header is not valid JSON: ", e.what());
  }
  MEDVQA_CHECK(duplicate.empty(), source, ": tensor '", duplicate, "' appears twice in the header");
  MEDVQA_CHECK(header.is_object(), source, ": header must be a JSON object");

  SafetensorsHeader out;
  out.data_start = 8 + n;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      MEDVQA_CHECK(v.is_object(), source, ": __metadata__ must be an object of strings");
      for (const auto& [k, s] : v.items()) {
        MEDVQA_CHECK(s.is_string(), source, ": __metadata__['", k, "'] must be a string");
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    out.tensors.push_back(parse_entry(name, v, source + ": tensor '" + name + "'"));
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t cursor = 0;
  for (const auto& e : out.tensors) {
    MEDVQA_CHECK(e.begin == cursor, source, ": tensor '", e.name, "' starts at byte ", e.begin, ", expected ", cursor,
                 e.begin < cursor ? " (overlaps the previous tensor)" : " (gap after the previous tensor)");
    cursor = e.end;
  }
  uint64_t data_bytes = size - out.data_start;
  MEDVQA_CHECK(cursor == data_bytes, source, ": tensors cover ", cursor, " data bytes but the file holds ", data_bytes,
               cursor > data_bytes ? " (truncated file or out-of-bounds offsets)" : " (trailing bytes)");
  return out;
}

std::string serialize_safetensors_header(const std::vector<SafetensorsEntry>& entries,
                                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  for (const auto& e : entries)
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace medvqa
