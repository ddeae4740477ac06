// Mapping high-bit-depth values (16-bit images, DICOM modality values) to 8-bit gray: DICOM's
// linear VOI window (PS3.3 C.11.2.1.2.1) or, without one, the full min..max range.
// It owns only the arithmetic; reading the window from a file is dicom.h's job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace medvqa::vision {

struct Window {
  double center = 0;
  double width = 1;
};

// "CENTER,WIDTH", e.g. "40,400"; width must be >= 1. `what` names the source in errors.
Window parse_window(const std::string& text, const std::string& what = "--window");

// The window that maps lo to 0 and hi to 255 linearly (y = (x - lo) / (hi - lo) * 255);
// a constant image (lo == hi) maps to 0.
Window full_range_window(double lo, double hi);

// DICOM's linear VOI function with output range 0..255, rounded half up to an integer.
uint8_t apply_window(double x, const Window& window);

// Every value through one window: the given one, else the full range of `values`.
std::vector<uint8_t> window_to_8bit(const std::vector<double>& values, const Window* window);

}  // namespace medvqa::vision
