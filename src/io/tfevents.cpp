#include "medvqa/io/tfevents.h"

#include <array>
#include <cstring>

namespace medvqa::tfevents {
namespace {

constexpr uint32_t kCastagnoli = 0x82F63B78u;
constexpr uint32_t kMaskDelta = 0xa282ead8u;
constexpr size_t kHeaderBytes = 12;  // length + its CRC
constexpr size_t kFooterBytes = 4;   // the data's CRC

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoli : c >> 1;
    t[i] = c;
  }
  return t;
}

uint64_t load_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// A bounds-checked protobuf reader over one message.
struct Cursor {
  const std::string& s;
  size_t pos = 0;
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos < s.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(s[pos++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool skip(size_t n) {
    if (n > s.size() - pos) return false;
    pos += n;
    return true;
  }
};

// Event.wall_time (field 1, double).
void put_wall_time(std::string& out, double wall_time) {
  uint64_t bits;
  std::memcpy(&bits, &wall_time, sizeof bits);
  put_key(out, 1, 1);
  put_fixed64(out, bits);
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) { put_varint(out, (uint64_t{field} << 3) | wire_type); }

void put_fixed64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void put_fixed32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

std::string frame_record(const std::string& data) {
  std::string out;
  put_fixed64(out, data.size());
  put_fixed32(out, masked_crc32c(out.data(), 8));
  out += data;
  put_fixed32(out, masked_crc32c(data.data(), data.size()));
  return out;
}

std::string file_version_event(double wall_time) {
  std::string event;
  put_wall_time(event, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_key(summary_value, 2, 5);
  put_fixed32(summary_value, bits);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event;
  put_wall_time(event, wall_time);
  put_key(event, 2, 0);
  put_varint(event, static_cast<uint64_t>(step));  // int64: negative steps take ten bytes, as protobuf's
  put_bytes(event, 5, summary);
  return event;
}

bool parse_event(const std::string& data, EventInfo& info) {
  info = EventInfo{};
  Cursor c{data};
  while (c.pos < data.size()) {
    uint64_t key, v;
    if (!c.varint(key)) return false;
    const uint64_t field = key >> 3;
    switch (key & 7) {
      case 0:
        if (!c.varint(v)) return false;
        if (field == 2) info.step = static_cast<int64_t>(v);
        break;
      case 1:
        if (!c.skip(8)) return false;
        break;
      case 2:
        if (!c.varint(v) || !c.skip(v)) return false;
        if (field == 5) info.has_summary = true;
        break;
      case 5:
        if (!c.skip(4)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> records;
  size_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    const char* p = bytes.data() + pos;
    if (static_cast<uint32_t>(load_le(p + 8, 4)) != masked_crc32c(p, 8)) break;
    const uint64_t length = load_le(p, 8);
    if (length > bytes.size() - pos - kHeaderBytes || bytes.size() - pos - kHeaderBytes - length < kFooterBytes) break;
    const char* data = p + kHeaderBytes;
    if (static_cast<uint32_t>(load_le(data + length, 4)) != masked_crc32c(data, length)) break;
    records.emplace_back(data, length);
    pos += kHeaderBytes + length + kFooterBytes;
  }
  return records;
}

}  // namespace medvqa::tfevents
