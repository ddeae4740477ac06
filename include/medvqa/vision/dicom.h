// DICOM images through GDCM: the first frame's stored values -> modality LUT (RescaleSlope and
// RescaleIntercept) -> window (explicit, else the file's first WindowCenter/WindowWidth, else the
// full value range) -> 8-bit gray, MONOCHROME1 inverted. VOI LUT sequences are not applied.
// Colour DICOM (SamplesPerPixel > 1) is rejected with a clear error. GDCM calls are serialised
// (one file at a time) because truncation is only visible on its global warning stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/vision/image.h"
#include "medvqa/vision/window.h"

namespace medvqa::vision {

// DICOM Part 10: "DICM" after the 128-byte preamble.
bool has_dicom_magic(const std::vector<uint8_t>& bytes);

// An 8-bit L image from the bytes of a DICOM file, which `path` names in errors (nothing is read
// from disk here); throws medvqa::Error naming the file and the problem (no pixel data, a transfer
// syntax GDCM cannot decode, colour data).
Image read_dicom(const std::vector<uint8_t>& bytes, const std::string& path, const Window* window);

}  // namespace medvqa::vision
