// The width and height an encoded image declares in its header, read without decoding it: what a
// server checks against its pixel limit before a decoder allocates for a 20000x20000 PNG (or a
// zip-bomb one whose few kilobytes inflate to gigabytes). PNG (IHDR), JPEG (the first SOF
// segment), BMP (BITMAPINFOHEADER or later) and TIFF (the first IFD's ImageWidth / ImageLength).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace medvqa::vision {

struct ImageSize {
  int64_t width = 0;
  int64_t height = 0;
};

// nullopt for another format (DICOM included) or a header too short or too damaged to say; the
// decoder then reports what is wrong.
std::optional<ImageSize> declared_image_size(const std::vector<uint8_t>& bytes);

}  // namespace medvqa::vision
