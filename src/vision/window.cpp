#include "medvqa/vision/window.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "medvqa/core/error.h"

namespace medvqa::vision {

Window parse_window(const std::string& text, const std::string& what) {
  const auto comma = text.find(',');
  Window w;
  char* end = nullptr;
  bool ok = comma != std::string::npos;
  if (ok) {
    const std::string c = text.substr(0, comma), wd = text.substr(comma + 1);
    w.center = std::strtod(c.c_str(), &end);
    ok = !c.empty() && *end == '\0';
    w.width = std::strtod(wd.c_str(), &end);
    ok = ok && !wd.empty() && *end == '\0' && std::isfinite(w.center) && std::isfinite(w.width);
  }
  MEDVQA_CHECK(ok, what, ": expected CENTER,WIDTH (two numbers, e.g. 40,400), got '", text, "'");
  MEDVQA_CHECK(w.width >= 1, what, ": window width must be >= 1 (DICOM PS3.3 C.11.2.1.2.1), got ", w.width);
  return w;
}

Window full_range_window(double lo, double hi) {
  // With c - 0.5 = (lo + hi) / 2 and w - 1 = hi - lo the linear function is (x - lo) / (hi - lo).
  return Window{(lo + hi) / 2 + 0.5, hi - lo + 1};
}

uint8_t apply_window(double x, const Window& window) {
  const double c = window.center - 0.5, w = window.width - 1;
  if (x <= c - w / 2) return 0;
  if (x > c + w / 2) return 255;
  const double y = ((x - c) / w + 0.5) * 255.0;
  return uint8_t(std::clamp(std::floor(y + 0.5), 0.0, 255.0));
}

std::vector<uint8_t> window_to_8bit(const std::vector<double>& values, const Window* window) {
  Window w;
  if (window) {
    w = *window;
  } else if (!values.empty()) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    w = full_range_window(*lo, *hi);
  }
  std::vector<uint8_t> out(values.size());
  std::transform(values.begin(), values.end(), out.begin(), [&](double v) { return apply_window(v, w); });
  return out;
}

}  // namespace medvqa::vision
