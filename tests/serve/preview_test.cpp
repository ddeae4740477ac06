#include "medvqa/serve/preview.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "medvqa/serve/api_error.h"

using namespace medvqa;
using namespace medvqa::serve;

namespace {

TEST(PreviewPng, UndoesTheNormalisation) {
  vision::PreprocessOptions options;
  vision::Pixels pixels;
  pixels.height = 1;
  pixels.width = 2;
  const uint8_t rgb[2][3] = {{0, 128, 255}, {10, 20, 30}};
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x)
      pixels.data.push_back(float((rgb[x][c] / 255.0 - options.mean[c]) / options.std[c]));
  const std::vector<uint8_t> png = preview_png(pixels, options);
  const cv::Mat bgr = cv::imdecode(png, cv::IMREAD_COLOR);
  ASSERT_EQ(bgr.rows, 1);
  ASSERT_EQ(bgr.cols, 2);
  for (int x = 0; x < 2; ++x)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(bgr.at<cv::Vec3b>(0, x)[2 - c], rgb[x][c]) << x << " " << c;
}

TEST(ParsePreviewRequest, ReadsTheImageAndNamesBadFields) {
  EXPECT_EQ(parse_preview_request(R"({"image": "data:image/png;base64,TWFu"})", {}).bytes.size(), 3u);
  try {
    parse_preview_request(R"({"image": 5})", {});
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "image");
    EXPECT_STREQ(e.what(), "request body: key \"image\": expected a string, found a number (5)");
  }
}

}  // namespace
