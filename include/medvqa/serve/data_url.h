// Images in chat requests arrive as data URLs (RFC 2397, base64 only): the media type and the
// decoded bytes. Remote URLs and file paths are refused, so no request makes the server fetch or
// read anything. Decoding the image itself is vision's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medvqa::serve {

struct DataUrl {
  std::string media_type;  // lower case: image/png, image/jpeg, image/bmp, image/tiff, application/dicom
  std::vector<uint8_t> bytes;
};

// The media types the server decodes.
bool is_image_media_type(const std::string& media_type);

// Standard base64 (RFC 4648, padding optional, no whitespace); nullopt on any other character or
// an impossible length.
std::optional<std::vector<uint8_t>> decode_base64(std::string_view text);

// `url` = "data:<media type>[;param]*;base64,<payload>". Throws ApiError naming `param`: 400 for a
// URL that is not such a data URL, an unsupported media type or bad base64; 413 when the decoded
// bytes would exceed max_bytes (checked before decoding).
DataUrl parse_data_url(const std::string& url, const std::string& param, size_t max_bytes);

}  // namespace medvqa::serve
