#include "medvqa/io/zip_reader.h"

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEnd = 0x06054b50,
                   kEnd64 = 0x06064b50, kEnd64Locator = 0x07064b50;

// Bounds-checked little-endian reads over the file.
struct Bytes {
  const uint8_t* data;
  size_t size;
  const std::string& source;

  uint64_t read(uint64_t at, int width) const {
    MEDVQA_CHECK(at <= size && static_cast<uint64_t>(width) <= size - at, source,
                 ": corrupt zip (a structure at byte ", at, " runs past the end of the file)");
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | data[at + i];
    return v;
  }
  uint32_t u16(uint64_t at) const { return static_cast<uint32_t>(read(at, 2)); }
  uint32_t u32(uint64_t at) const { return static_cast<uint32_t>(read(at, 4)); }
  uint64_t u64(uint64_t at) const { return read(at, 8); }
};

uint64_t find_end_record(const Bytes& b) {
  MEDVQA_CHECK(b.size >= 22, b.source, ": not a zip file (", b.size, " bytes)");
  uint64_t lowest = b.size > 22 + 65535 ? b.size - 22 - 65535 : 0;
  for (uint64_t at = b.size - 22 + 1; at-- > lowest;)
    if (b.u32(at) == kEnd) return at;
  MEDVQA_FAIL(b.source, ": not a zip file (no end-of-central-directory record)");
}

}  // namespace

std::map<std::string, ZipRecord> read_zip_directory(const uint8_t* data, size_t size, const std::string& source) {
  Bytes b{data, size, source};
  uint64_t end = find_end_record(b);
  uint64_t count = b.u16(end + 10), dir = b.u32(end + 16);
  if (end >= 20 && b.u32(end - 20) == kEnd64Locator) {
    uint64_t end64 = b.u64(end - 20 + 8);
    MEDVQA_CHECK(b.u32(end64) == kEnd64, source, ": corrupt zip64 end record");
    count = b.u64(end64 + 32);
    dir = b.u64(end64 + 48);
  }
  std::map<std::string, ZipRecord> records;
  uint64_t at = dir;
  for (uint64_t i = 0; i < count; ++i) {
    MEDVQA_CHECK(b.u32(at) == kCentralHeader, source, ": corrupt zip central directory at byte ", at);
    uint32_t method = b.u16(at + 10), name_len = b.u16(at + 28), extra_len = b.u16(at + 30), comment_len = b.u16(at + 32);
    uint64_t comp = b.u32(at + 20), plain = b.u32(at + 24), local = b.u32(at + 42);
    b.read(at + 46, name_len + extra_len);
    std::string name(reinterpret_cast<const char*>(data + at + 46), name_len);
    // zip64 extra field: the 64-bit values of whichever 32-bit fields are saturated, in order.
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      uint32_t id = b.u16(x), len = b.u16(x + 2);
      if (id == 0x0001) {
        uint64_t y = x + 4;
        if (plain == 0xFFFFFFFF) plain = b.u64(y), y += 8;
        if (comp == 0xFFFFFFFF) comp = b.u64(y), y += 8;
        if (local == 0xFFFFFFFF) local = b.u64(y);
      }
      x += 4 + len;
    }
    MEDVQA_CHECK(method == 0, source, ": record '", name, "' is compressed (method ", method,
                 "); torch.save writes stored records only");
    MEDVQA_CHECK(comp == plain, source, ": record '", name, "' has inconsistent sizes");
    MEDVQA_CHECK(b.u32(local) == kLocalHeader, source, ": corrupt local header of '", name, "'");
    uint64_t start = local + 30 + b.u16(local + 26) + b.u16(local + 28);
    MEDVQA_CHECK(start <= size && plain <= size - start, source, ": record '", name, "' (", plain,
                 " bytes) runs past the end of the file (truncated?)");
    records[name] = ZipRecord{start, plain};
    at += 46 + name_len + extra_len + comment_len;
  }
  return records;
}

}  // namespace medvqa
