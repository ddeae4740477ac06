// The pictures of run reports, drawn with OpenCV and returned as PNG bytes (callers write them
// atomically): a run's loss curves (like the paper's Figure 3), a horizontal bar chart of
// fractions (accuracy per modality), a dot plot of differences with interval whiskers and
// thumbnails of dataset images. Not the reports' text.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace medvqa::plot {

using Curve = std::vector<std::pair<double, double>>;  // (step, loss)

// Train loss per step as a line, validation loss as dots.
std::string loss_curve_png(const Curve& train, const Curve& val, const std::string& title);

struct Bar {
  std::string label;  // drawn in ASCII: other characters become '?' (OpenCV's Hershey fonts)
  double value = 0;   // a fraction in [0, 1], drawn as a percentage
  std::string note;   // printed after the value, e.g. "n=120"
};
std::string bar_chart_png(const std::vector<Bar>& bars, const std::string& title);

struct Interval {
  std::string label;  // ASCII, as Bar::label
  double value = 0, low = 0, high = 0;  // a difference of fractions and its interval, drawn in points
  bool highlight = false;  // drawn in red (a failed group)
};
// One row per interval: a dot at the value, whiskers to low and high, a line at zero and a dashed
// line at -threshold (the tolerated drop; none when threshold is 0).
std::string dot_interval_png(const std::vector<Interval>& rows, double threshold, const std::string& title);

// The image file decoded as the vision pipeline decodes it (PNG, JPEG, DICOM, ...), in RGB, its
// longer side scaled to max_side (never enlarged). Throws Error naming the file.
std::string thumbnail_png(const std::string& path, int max_side);

}  // namespace medvqa::plot
