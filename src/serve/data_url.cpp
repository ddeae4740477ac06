#include "medvqa/serve/data_url.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "medvqa/serve/api_error.h"

namespace medvqa::serve {
namespace {

constexpr std::array<const char*, 5> kImageTypes = {"image/png", "image/jpeg", "image/bmp", "image/tiff",
                                                     "application/dicom"};

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

bool is_image_media_type(const std::string& media_type) {
  return std::find(kImageTypes.begin(), kImageTypes.end(), media_type) != kImageTypes.end();
}

std::optional<std::vector<uint8_t>> decode_base64(std::string_view text) {
  size_t padding = 0;
  while (padding < 2 && !text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++padding;
  }
  if ((padding > 0 && (text.size() + padding) % 4 != 0) || text.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | uint32_t(v);
    if (++count == 4) {
      out.push_back(uint8_t(bits >> 16));
      out.push_back(uint8_t(bits >> 8));
      out.push_back(uint8_t(bits));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out.push_back(uint8_t(bits >> 4));
  if (count == 3) {
    out.push_back(uint8_t(bits >> 10));
    out.push_back(uint8_t(bits >> 2));
  }
  return out;
}

DataUrl parse_data_url(const std::string& url, const std::string& param, size_t max_bytes) {
  const std::string kPrefix = "data:";
  if (lower(url.substr(0, kPrefix.size())) != kPrefix)
    throw ApiError(400,
                   param + ": expected a data URL (data:image/png;base64,...); the server fetches no remote URLs "
                           "and reads no files",
                   param);
  const size_t comma = url.find(',');
  if (comma == std::string::npos) throw ApiError(400, param + ": data URL without a ',' before its payload", param);
  const std::string header = lower(url.substr(kPrefix.size(), comma - kPrefix.size()));
  const std::string kBase64 = ";base64";
  if (header.size() < kBase64.size() || header.compare(header.size() - kBase64.size(), kBase64.size(), kBase64) != 0)
    throw ApiError(400, param + ": the data URL must be base64 (data:<type>;base64,...)", param);
  DataUrl out;
  out.media_type = header.substr(0, header.find(';'));
  if (!is_image_media_type(out.media_type))
    throw ApiError(400,
                   param + ": unsupported media type \"" + out.media_type +
                       "\" (expected image/png, image/jpeg, image/bmp, image/tiff or application/dicom)",
                   param);
  const size_t payload = url.size() - comma - 1;
  if (payload / 4 * 3 > max_bytes)
    throw ApiError(413, param + ": the image is larger than the server's limit of " + std::to_string(max_bytes) +
                            " bytes",
                   param);
  auto bytes = decode_base64(std::string_view(url).substr(comma + 1));
  if (!bytes) throw ApiError(400, param + ": the data URL's payload is not valid base64", param);
  if (bytes->empty()) throw ApiError(400, param + ": the data URL holds no bytes", param);
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace medvqa::serve
