// Report pictures: they decode as PNGs of the promised size, bars are as long as their values,
// thumbnails keep the aspect ratio, and a bad image file is an error naming it.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>

#include "common/test_util.h"
#include "medvqa/plot/figure.h"

namespace medvqa::plot {
namespace {

cv::Mat decode_png(const std::string& bytes) {
  cv::Mat img = cv::imdecode(std::vector<uchar>(bytes.begin(), bytes.end()), cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty()) << "not a PNG";
  return img;
}

// Pixels of the bar colour (BGR 200, 100, 30) along the row through the middle of bar i.
int bar_length(const cv::Mat& img, int i) {
  const int y = 50 + 30 * i + 15;
  int n = 0;
  for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == cv::Vec3b(200, 100, 30);
  return n;
}

TEST(Figure, BarLengthsFollowTheValues) {
  std::vector<Bar> bars(3);
  bars[0].label = "CT(Computed Tomography)";
  bars[0].value = 1.0;
  bars[1].label = "Röntgen";  // non-ASCII: drawn as '?'
  bars[1].value = 0.5;
  bars[1].note = "n=3";
  bars[2].label = "X-Ray";
  bars[2].value = 0.25;
  cv::Mat img = decode_png(bar_chart_png(bars, "open-ended accuracy by modality"));
  EXPECT_EQ(img.rows, 50 + 3 * 30 + 40);
  const int full = bar_length(img, 0);
  EXPECT_GT(full, 300);
  EXPECT_NEAR(bar_length(img, 1), full / 2, 2);
  EXPECT_NEAR(bar_length(img, 2), full / 4, 2);
}

TEST(Figure, LossCurveIsAPng) {
  cv::Mat img = decode_png(loss_curve_png({{1, 3.0}, {2, 2.0}, {3, 1.5}}, {{3, 1.8}}, "loss"));
  EXPECT_EQ(img.cols, 800);
  EXPECT_EQ(img.rows, 480);
}

TEST(Figure, ThumbnailKeepsTheAspectRatioAndNeverEnlarges) {
  auto dir = test_util::temp_dir("figure");
  cv::Mat wide(100, 400, CV_8UC3, cv::Scalar(10, 20, 30));
  ASSERT_TRUE(cv::imwrite((dir / "wide.png").string(), wide));
  cv::Mat small = decode_png(thumbnail_png((dir / "wide.png").string(), 200));
  EXPECT_EQ(small.cols, 200);
  EXPECT_EQ(small.rows, 50);
  EXPECT_EQ(small.at<cv::Vec3b>(25, 100), cv::Vec3b(10, 20, 30));  // colours stay in place (BGR)
  cv::Mat same = decode_png(thumbnail_png((dir / "wide.png").string(), 1000));
  EXPECT_EQ(same.cols, 400);
}

TEST(Figure, ThumbnailOfAMissingImageNamesIt) {
  EXPECT_NE(test_util::error_message([] { thumbnail_png("/nonexistent/scan.png", 64); }).find("/nonexistent/scan.png"),
            std::string::npos);
}

}  // namespace
}  // namespace medvqa::plot
