// Reading an image file into an 8-bit Image in the mode PIL would open it in: PNG, JPEG, BMP, TIFF
// through OpenCV (palette and 1-bit PNG/BMP recognised from the file's own header) and DICOM
// through dicom.h. Resizing and the open_clip transform are not here.
//
// 16-bit images deliberately differ from PIL: PIL opens them as "I;16"/"I" and convert("RGB")
// saturates every value above 255 to white, destroying high-bit-depth medical images. medvqa maps
// their colour samples to 8-bit over the image's full min..max range (or the given window, DICOM's
// linear VOI function) and keeps alpha's high byte; the result then follows the 8-bit path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "medvqa/vision/image.h"
#include "medvqa/vision/window.h"

namespace medvqa::vision {

struct DecodeOptions {
  std::optional<Window> window;  // for 16-bit images and DICOM; 8-bit images ignore it
};

// Throws medvqa::Error naming the file: missing, empty, corrupt or truncated, zero size,
// unsupported sample type, DICOM problems.
Image decode_image(const std::string& path, const DecodeOptions& options = {});
// The same from bytes already read (`path` names the source in errors and routes .dcm files);
// nothing is read from disk.
Image decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& path, const DecodeOptions& options = {});

std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace medvqa::vision
