#include "medvqa/vision/transform.h"

#include <gtest/gtest.h>
#include "common/test_util.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "medvqa/core/error.h"

namespace fs = std::filesystem;
using namespace medvqa::vision;

namespace {

constexpr float kTolerance = 1e-6f;  // float32 arithmetic on both sides, same order of operations

std::string vision_dir(const std::string& name, const std::string& json) {
  const fs::path dir = fs::temp_directory_path() / "medvqa_vision_test" / name;
  fs::create_directories(dir);
  std::ofstream(dir / "open_clip_config.json") << json;
  return dir.string();
}

std::string error_of(const std::string& dir) {
  return medvqa::test_util::error_message([&] { read_preprocess_options(dir); });
}

}  // namespace

TEST(Transform, ShortestSideAsTorchvision) {
  EXPECT_EQ(shortest_side_size(300, 400, 224), (std::array<int, 2>{224, 298}));  // 298.67 truncated
  EXPECT_EQ(shortest_side_size(400, 300, 224), (std::array<int, 2>{298, 224}));
  EXPECT_EQ(shortest_side_size(1000, 3, 224), (std::array<int, 2>{74666, 224}));
  EXPECT_EQ(shortest_side_size(50, 50, 224), (std::array<int, 2>{224, 224}));
}

TEST(Transform, CenterCropRoundsHalfToEvenAsPython) {
  EXPECT_EQ(center_crop_offset(298, 224), 37);
  EXPECT_EQ(center_crop_offset(225, 224), 0);  // round(0.5) = 0
  EXPECT_EQ(center_crop_offset(227, 224), 2);  // round(1.5) = 2
  EXPECT_EQ(center_crop_offset(229, 224), 2);  // round(2.5) = 2
  EXPECT_EQ(center_crop_offset(231, 224), 4);  // round(3.5) = 4
  EXPECT_EQ(center_crop_offset(224, 224), 0);
}

TEST(Transform, ExpandToSquareCentresOnTheFill) {
  Image wide(4, 1, Mode::kRGB);
  std::fill(wide.pixels.begin(), wide.pixels.end(), 9);
  const Image sq = expand_to_square(wide, {1, 2, 3});
  ASSERT_EQ(sq.width, 4);
  ASSERT_EQ(sq.height, 4);
  EXPECT_EQ(sq.row(0)[0], 1);  // (4 - 1) // 2 = 1: image on row 1
  EXPECT_EQ(sq.row(0)[2], 3);
  EXPECT_EQ(sq.row(1)[0], 9);
  EXPECT_EQ(sq.row(2)[1], 2);
  Image tall(1, 3, Mode::kRGB);
  std::fill(tall.pixels.begin(), tall.pixels.end(), 9);
  const Image sq2 = expand_to_square(tall, {1, 2, 3});
  EXPECT_EQ(sq2.row(0)[3], 9);  // column (3 - 1) // 2 = 1
  EXPECT_EQ(sq2.row(0)[0], 1);
}

TEST(Transform, NormalisesAConstantImage) {
  Image gray(30, 20, Mode::kL);
  std::fill(gray.pixels.begin(), gray.pixels.end(), 128);
  PreprocessOptions o;
  o.image_size = 16;
  const Pixels p = preprocess(gray, o);
  ASSERT_EQ(p.data.size(), size_t(3 * 16 * 16));
  for (int c = 0; c < 3; ++c) {
    const float expected = (128.0f / 255.0f - float(kClipMean[c])) / float(kClipStd[c]);
    EXPECT_NEAR(p.data[c * 256 + 100], expected, kTolerance) << "channel " << c;
  }
}

TEST(Transform, PadModeFillsWithTheMeanColour) {
  Image wide(40, 10, Mode::kL);
  std::fill(wide.pixels.begin(), wide.pixels.end(), 0);
  PreprocessOptions o;
  o.image_size = 8;
  o.resize_mode = ResizeMode::kPad;
  const Pixels p = preprocess(wide, o);
  // Row 0 lies in the padding: int(mean * 255), normalised (bicubic of a constant stays constant).
  for (int c = 0; c < 3; ++c) {
    const float fill = float(int(kClipMean[c] * 255));
    EXPECT_NEAR(p.data[c * 64], (fill / 255.0f - float(kClipMean[c])) / float(kClipStd[c]), kTolerance);
  }
}

TEST(Transform, ReadsPreprocessCfgAndDefaults) {
  const PreprocessOptions biomed = read_preprocess_options(vision_dir(
      "biomed", R"({"model_cfg": {"vision_cfg": {"image_size": 224}},
                    "preprocess_cfg": {"mean": [0.1, 0.2, 0.3], "std": 0.5}})"));
  EXPECT_EQ(biomed.image_size, 224);
  EXPECT_DOUBLE_EQ(biomed.mean[2], 0.3);
  EXPECT_DOUBLE_EQ(biomed.std[1], 0.5);
  const PreprocessOptions plain = read_preprocess_options(vision_dir("plain", R"({"model_cfg": {}})"));
  EXPECT_EQ(plain.mean, kClipMean);
  EXPECT_EQ(plain.std, kClipStd);
}

TEST(Transform, RejectsWhatItDoesNotImplement) {
  EXPECT_NE(error_of(vision_dir("squash", R"({"preprocess_cfg": {"resize_mode": "squash"}})")).find("resize_mode"),
            std::string::npos);
  EXPECT_NE(error_of(vision_dir("badmean", R"({"preprocess_cfg": {"mean": [1, 2]}})")).find("list of 3"),
            std::string::npos);
  EXPECT_NE(error_of("/nonexistent/dir").find("open_clip_config.json"), std::string::npos);
  EXPECT_THROW(parse_resize_mode("stretch"), medvqa::Error);
}
