#include "medvqa/plot/figure.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "medvqa/core/error.h"
#include "medvqa/vision/decode.h"

namespace medvqa::plot {
namespace {

const cv::Scalar kBlack(0, 0, 0), kGrey(200, 200, 200), kBlue(200, 100, 30), kRed(30, 30, 220);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour, int weight = 1) {
  cv::putText(img, s, at, kFont, scale, colour, weight, cv::LINE_AA);
}

std::string png(const cv::Mat& img, const std::string& what) {
  std::vector<uchar> bytes;
  MEDVQA_CHECK(cv::imencode(".png", img, bytes), "figure: cannot encode the ", what, " as PNG");
  return std::string(bytes.begin(), bytes.end());
}

// Hershey fonts draw ASCII only: every byte of a multi-byte UTF-8 character would print as junk.
std::string ascii_label(const std::string& s, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c & 0xC0) != 0x80) {
      out += '?';  // one '?' per character: continuation bytes are skipped
    }
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars - 3) + "...";
  return out;
}

}  // namespace

std::string loss_curve_png(const Curve& train, const Curve& val, const std::string& title) {
  const int W = 800, H = 480, L = 70, R = 20, T = 40, B = 50;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  double x_max = 1, y_max = 1e-9, y_min = 1e30;
  for (const Curve* c : {&train, &val})
    for (const auto& [x, y] : *c) x_max = std::max(x_max, x), y_max = std::max(y_max, y), y_min = std::min(y_min, y);
  if (y_min > y_max) y_min = 0;
  y_min = std::min(0.0, y_min);
  auto px = [&](double x, double y) {
    return cv::Point(L + static_cast<int>((W - L - R) * x / x_max),
                     H - B - static_cast<int>((H - T - B) * (y - y_min) / (y_max - y_min)));
  };
  cv::rectangle(img, {L, T}, {W - R, H - B}, kBlack, 1);
  for (int i = 0; i <= 4; ++i) {
    char label[32];
    double y = y_min + (y_max - y_min) * i / 4;
    std::snprintf(label, sizeof label, "%.2f", y);
    text(img, label, {5, px(0, y).y + 5}, 0.45, kBlack);
    std::snprintf(label, sizeof label, "%.0f", x_max * i / 4);
    text(img, label, {px(x_max * i / 4, y_min).x - 10, H - B + 20}, 0.45, kBlack);
  }
  auto draw = [&](const Curve& c, const cv::Scalar& colour, bool dots) {
    for (size_t i = 0; i < c.size(); ++i) {
      if (i > 0) cv::line(img, px(c[i - 1].first, c[i - 1].second), px(c[i].first, c[i].second), colour, 2, cv::LINE_AA);
      if (dots) cv::circle(img, px(c[i].first, c[i].second), 4, colour, cv::FILLED, cv::LINE_AA);
    }
  };
  draw(train, kBlue, false);
  draw(val, kRed, true);
  text(img, title, {L, 25}, 0.6, kBlack);
  text(img, "train", {W - 170, 25}, 0.5, kBlue, 2);
  text(img, "validation", {W - 110, 25}, 0.5, kRed, 2);
  text(img, "optimizer step", {W / 2 - 50, H - 10}, 0.5, kBlack);
  return png(img, "loss curve");
}

std::string bar_chart_png(const std::vector<Bar>& bars, const std::string& title) {
  const int W = 900, L = 310, R = 170, T = 50, Row = 30, B = 40;
  const int H = T + Row * std::max<int>(1, static_cast<int>(bars.size())) + B;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  auto x_of = [&](double fraction) { return L + static_cast<int>((W - L - R) * std::clamp(fraction, 0.0, 1.0)); };
  for (int i = 0; i <= 4; ++i) {
    const int x = x_of(i / 4.0);
    cv::line(img, {x, T - 5}, {x, H - B}, kGrey, 1);
    text(img, std::to_string(25 * i) + "%", {x - 14, H - B + 20}, 0.45, kBlack);
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const int y = T + Row * static_cast<int>(i);
    text(img, ascii_label(bars[i].label, 34), {8, y + Row / 2 + 5}, 0.5, kBlack);
    cv::rectangle(img, {L, y + 5}, {std::max(L + 1, x_of(bars[i].value)), y + Row - 5}, kBlue, cv::FILLED);
    char value[64];
    std::snprintf(value, sizeof value, "%.1f%%", 100.0 * bars[i].value);
    text(img, std::string(value) + (bars[i].note.empty() ? "" : "  " + ascii_label(bars[i].note, 24)),
         {x_of(bars[i].value) + 6, y + Row / 2 + 5}, 0.45, kBlack);
  }
  cv::line(img, {L, T - 5}, {L, H - B}, kBlack, 1);
  text(img, ascii_label(title, 70), {8, 28}, 0.6, kBlack);
  return png(img, "bar chart");
}

std::string dot_interval_png(const std::vector<Interval>& rows, double threshold, const std::string& title) {
  const int W = 900, L = 310, R = 130, T = 50, Row = 28, B = 45;
  const int H = T + Row * std::max<int>(1, static_cast<int>(rows.size())) + B;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  // A symmetric axis around zero wide enough for every whisker and the threshold, in whole points.
  double reach = std::max(0.01, threshold);
  for (const Interval& r : rows) reach = std::max({reach, std::abs(r.low), std::abs(r.high), std::abs(r.value)});
  reach = std::ceil(reach * 100.0) / 100.0;
  auto x_of = [&](double d) { return L + static_cast<int>((W - L - R) * (std::clamp(d, -reach, reach) + reach) / (2 * reach)); };
  for (int i = -2; i <= 2; ++i) {
    const double d = reach * i / 2;
    const int x = x_of(d);
    cv::line(img, {x, T - 5}, {x, H - B}, i == 0 ? kBlack : kGrey, 1);
    char label[32];
    std::snprintf(label, sizeof label, "%+.1f", 100.0 * d);
    text(img, label, {x - 16, H - B + 20}, 0.45, kBlack);
  }
  if (threshold > 0)
    for (int y = T - 5; y < H - B; y += 8) cv::line(img, {x_of(-threshold), y}, {x_of(-threshold), y + 4}, kRed, 1);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Interval& r = rows[i];
    const int y = T + Row * static_cast<int>(i) + Row / 2;
    const cv::Scalar& colour = r.highlight ? kRed : kBlue;
    text(img, ascii_label(r.label, 34), {8, y + 5}, 0.5, r.highlight ? kRed : kBlack);
    cv::line(img, {x_of(r.low), y}, {x_of(r.high), y}, colour, 2, cv::LINE_AA);
    for (double end : {r.low, r.high}) cv::line(img, {x_of(end), y - 6}, {x_of(end), y + 6}, colour, 2, cv::LINE_AA);
    cv::circle(img, {x_of(r.value), y}, 5, colour, cv::FILLED, cv::LINE_AA);
    char value[32];
    std::snprintf(value, sizeof value, "%+.2f", 100.0 * r.value);
    text(img, value, {W - R + 10, y + 5}, 0.45, colour);
  }
  text(img, ascii_label(title, 70), {8, 28}, 0.6, kBlack);
  text(img, "difference in points", {L + (W - L - R) / 2 - 70, H - 8}, 0.45, kBlack);
  return png(img, "dot plot");
}

std::string thumbnail_png(const std::string& path, int max_side) {
  MEDVQA_CHECK(max_side > 0, "thumbnail: max_side must be positive, got ", max_side);
  vision::Image rgb = vision::to_rgb(vision::decode_image(path));
  cv::Mat mat(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
  cv::Mat bgr;
  cv::cvtColor(mat, bgr, cv::COLOR_RGB2BGR);
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(rgb.width, rgb.height));
  if (scale < 1.0) {
    cv::Mat small;
    cv::Size size(std::max(1, static_cast<int>(rgb.width * scale + 0.5)), std::max(1, static_cast<int>(rgb.height * scale + 0.5)));
    cv::resize(bgr, small, size, 0, 0, cv::INTER_AREA);
    bgr = small;
  }
  return png(bgr, "thumbnail of " + path);
}

}  // namespace medvqa::plot
