#include "medvqa/train/loss_curve.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa {

void write_loss_curve(const std::string& path, const Curve& train, const Curve& val, const std::string& title) {
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
  cv::rectangle(img, {L, T}, {W - R, H - B}, cv::Scalar(0, 0, 0), 1);
  for (int i = 0; i <= 4; ++i) {
    char label[32];
    double y = y_min + (y_max - y_min) * i / 4;
    std::snprintf(label, sizeof label, "%.2f", y);
    cv::putText(img, label, {5, px(0, y).y + 5}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    std::snprintf(label, sizeof label, "%.0f", x_max * i / 4);
    cv::putText(img, label, {px(x_max * i / 4, y_min).x - 10, H - B + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  auto draw = [&](const Curve& c, cv::Scalar colour, bool dots) {
    for (size_t i = 0; i < c.size(); ++i) {
      if (i > 0) cv::line(img, px(c[i - 1].first, c[i - 1].second), px(c[i].first, c[i].second), colour, 2, cv::LINE_AA);
      if (dots) cv::circle(img, px(c[i].first, c[i].second), 4, colour, cv::FILLED, cv::LINE_AA);
    }
  };
  draw(train, cv::Scalar(200, 100, 30), false);
  draw(val, cv::Scalar(30, 30, 220), true);
  cv::putText(img, title, {L, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  cv::putText(img, "train", {W - 170, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(200, 100, 30), 2, cv::LINE_AA);
  cv::putText(img, "validation", {W - 110, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(30, 30, 220), 2, cv::LINE_AA);
  cv::putText(img, "optimizer step", {W / 2 - 50, H - 10}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  std::vector<uchar> png;
  MEDVQA_CHECK(cv::imencode(".png", img, png), path, ": cannot encode the loss curve");
  write_file_atomic(path, std::string(png.begin(), png.end()));
}

}  // namespace medvqa
