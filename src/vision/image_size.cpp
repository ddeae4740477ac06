#include "medvqa/vision/image_size.h"

#include <cstdlib>
#include <cstring>

namespace medvqa::vision {
namespace {

// Bounds-checked reads of unsigned integers at an offset, big or little endian.
struct Reader {
  const std::vector<uint8_t>& bytes;
  bool big_endian = true;

  bool has(size_t offset, size_t n) const { return offset <= bytes.size() && n <= bytes.size() - offset; }
  std::optional<uint32_t> get(size_t offset, size_t n) const {
    if (!has(offset, n)) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t byte = bytes[offset + (big_endian ? i : n - 1 - i)];
      v = (v << 8) | byte;
    }
    return v;
  }
  bool starts_with(const char* magic, size_t n) const { return has(0, n) && std::memcmp(bytes.data(), magic, n) == 0; }
};

std::optional<ImageSize> size_of(std::optional<uint32_t> width, std::optional<uint32_t> height) {
  if (!width || !height) return std::nullopt;
  return ImageSize{*width, *height};
}

std::optional<ImageSize> png_size(const Reader& r) {
  // The signature, then the IHDR chunk: length, "IHDR", width, height (big endian).
  if (!r.has(12, 4) || std::memcmp(r.bytes.data() + 12, "IHDR", 4) != 0) return std::nullopt;
  return size_of(r.get(16, 4), r.get(20, 4));
}

std::optional<ImageSize> jpeg_size(const Reader& r) {
  size_t at = 2;  // after SOI
  while (auto marker = r.get(at, 2)) {
    if ((*marker >> 8) != 0xFF) return std::nullopt;
    const uint32_t code = *marker & 0xFF;
    if (code == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    const auto length = r.get(at + 2, 2);
    if (!length || *length < 2) return std::nullopt;
    // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
    if (code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC)
      return size_of(r.get(at + 7, 2), r.get(at + 5, 2));
    if (code == 0xDA || code == 0xD9) return std::nullopt;  // scan data or the end before any frame
    at += 2 + *length;
  }
  return std::nullopt;
}

std::optional<ImageSize> bmp_size(Reader r) {
  r.big_endian = false;
  const auto header = r.get(14, 4);
  if (!header || *header < 40) return std::nullopt;  // the OS/2 core header has 16-bit sizes: let the decoder say
  const auto width = r.get(18, 4), height = r.get(22, 4);
  if (!width || !height) return std::nullopt;
  // Signed: a negative height means a top-down bitmap.
  return ImageSize{std::abs(static_cast<int64_t>(static_cast<int32_t>(*width))),
                   std::abs(static_cast<int64_t>(static_cast<int32_t>(*height)))};
}

std::optional<ImageSize> tiff_size(Reader r) {
  r.big_endian = r.starts_with("MM", 2);
  const auto ifd = r.get(4, 4);
  const auto count = ifd ? r.get(*ifd, 2) : std::nullopt;
  if (!count) return std::nullopt;
  std::optional<uint32_t> width, height;
  for (uint32_t i = 0; i < *count; ++i) {
    const size_t entry = *ifd + 2 + size_t{12} * i;
    const auto tag = r.get(entry, 2), type = r.get(entry + 2, 2);
    if (!tag || !type) return std::nullopt;
    // SHORT (3) values sit in the first two bytes of the value field, LONG (4) fill it.
    const auto value = *type == 3 ? r.get(entry + 8, 2) : *type == 4 ? r.get(entry + 8, 4) : std::nullopt;
    if (*tag == 256) width = value;
    if (*tag == 257) height = value;
  }
  return size_of(width, height);
}

}  // namespace

std::optional<ImageSize> declared_image_size(const std::vector<uint8_t>& bytes) {
  const Reader r{bytes};
  if (r.starts_with("\x89PNG\r\n\x1a\n", 8)) return png_size(r);
  if (r.starts_with("\xFF\xD8", 2)) return jpeg_size(r);
  if (r.starts_with("BM", 2)) return bmp_size(r);
  if (r.starts_with("II*\0", 4) || r.starts_with("MM\0*", 4)) return tiff_size(r);
  return std::nullopt;
}

}  // namespace medvqa::vision
