// The sizes declared in image headers, against what OpenCV encodes, and headers that cannot say.
#include <gtest/gtest.h>

#include <cstring>
#include <opencv2/imgcodecs.hpp>

#include "medvqa/vision/image_size.h"

namespace medvqa::vision {
namespace {

std::vector<uint8_t> encoded(const std::string& ext, int width, int height) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(ext, cv::Mat(height, width, CV_8UC3, cv::Scalar(10, 20, 30)), out)) << ext;
  return out;
}

TEST(DeclaredImageSize, ReadsEveryEncodedFormat) {
  for (const char* ext : {".png", ".jpg", ".bmp", ".tiff"}) {
    const auto size = declared_image_size(encoded(ext, 37, 23));
    ASSERT_TRUE(size) << ext;
    EXPECT_EQ(size->width, 37) << ext;
    EXPECT_EQ(size->height, 23) << ext;
  }
}

TEST(DeclaredImageSize, ReadsAHugeClaimWithoutTheData) {
  // A PNG header that declares 20000x20000 and stops after IHDR.
  std::vector<uint8_t> png = encoded(".png", 4, 4);
  png.resize(33);
  const uint8_t big[] = {0x00, 0x00, 0x4E, 0x20};  // 20000
  std::copy(big, big + 4, png.begin() + 16);
  std::copy(big, big + 4, png.begin() + 20);
  const auto size = declared_image_size(png);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->width * size->height, 400000000);
  // A top-down BMP has a negative height.
  std::vector<uint8_t> bmp = encoded(".bmp", 5, 7);
  const int32_t negative = -7;
  std::memcpy(bmp.data() + 22, &negative, 4);
  EXPECT_EQ(declared_image_size(bmp)->height, 7);
}

TEST(DeclaredImageSize, SaysNothingForOtherOrCutHeaders) {
  EXPECT_FALSE(declared_image_size({}));
  EXPECT_FALSE(declared_image_size({'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'}));
  for (const char* ext : {".png", ".jpg", ".bmp", ".tiff"}) {
    std::vector<uint8_t> cut = encoded(ext, 37, 23);
    cut.resize(ext == std::string(".jpg") ? 4 : 12);
    EXPECT_FALSE(declared_image_size(cut)) << ext;
  }
}

}  // namespace
}  // namespace medvqa::vision
