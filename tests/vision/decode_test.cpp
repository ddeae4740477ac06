#include "medvqa/vision/decode.h"

#include <gtest/gtest.h>
#include "common/test_util.h"

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "medvqa/core/error.h"
#include "medvqa/vision/preprocess_files.h"

namespace fs = std::filesystem;
using namespace medvqa::vision;

namespace {

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / "medvqa_decode_test";
  fs::create_directories(dir);
  return dir;
}

std::string write_bytes(const std::string& name, const std::vector<uint8_t>& bytes) {
  const fs::path p = temp_dir() / name;
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return p.string();
}

std::string write_png(const std::string& name, const cv::Mat& mat) {
  std::vector<uint8_t> bytes;
  cv::imencode(".png", mat, bytes);
  return write_bytes(name, bytes);
}

std::string error_of(const std::string& path, const DecodeOptions& options = {}) {
  return medvqa::test_util::error_message([&] { decode_image(path, options); });
}

}  // namespace

TEST(Decode, RgbPngBecomesRgbInRgbOrder) {
  cv::Mat bgr(2, 3, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
  const Image im = decode_image(write_png("rgb.png", bgr));
  EXPECT_EQ(im.mode, Mode::kRGB);
  EXPECT_EQ(im.width, 3);
  EXPECT_EQ(im.height, 2);
  EXPECT_EQ(im.pixels[0], 30);
  EXPECT_EQ(im.pixels[2], 10);
}

TEST(Decode, SixteenBitMapsFullRangeOrWindow) {
  cv::Mat g(1, 4, CV_16UC1);
  g.at<uint16_t>(0, 0) = 1000;
  g.at<uint16_t>(0, 1) = 3000;
  g.at<uint16_t>(0, 2) = 2000;
  g.at<uint16_t>(0, 3) = 1500;
  const std::string path = write_png("gray16.png", g);
  const Image full = decode_image(path);
  EXPECT_EQ(full.mode, Mode::kL);
  EXPECT_EQ(full.pixels, (std::vector<uint8_t>{0, 255, 128, 64}));  // 127.5 -> 128, 63.75 -> 64
  DecodeOptions o;
  o.window = Window{2000.5, 2};  // c - 0.5 = 2000, w - 1 = 1: x <= 1999.5 -> 0, x > 2000.5 -> 255
  EXPECT_EQ(decode_image(path, o).pixels, (std::vector<uint8_t>{0, 255, 128, 0}));
}

TEST(Decode, ErrorsNameTheFile) {
  const std::string missing = (temp_dir() / "missing.png").string();
  EXPECT_NE(error_of(missing).find("cannot open image " + missing), std::string::npos);

  const std::string empty = write_bytes("empty.png", {});
  EXPECT_NE(error_of(empty).find(empty + " is empty"), std::string::npos);

  std::vector<uint8_t> png;
  cv::imencode(".png", cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), png);
  png.resize(png.size() / 2);
  const std::string truncated = write_bytes("truncated.png", png);
  EXPECT_NE(error_of(truncated).find("cannot decode image " + truncated), std::string::npos);

  // A PNG whose IHDR says 0 x 5.
  std::vector<uint8_t> zero = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0,    0,   0,   0,   0,    0,    0,    5,    8, 0, 0, 0,  0,   0,   0,   0};
  const std::string zero_size = write_bytes("zero.png", zero);
  EXPECT_NE(error_of(zero_size).find(zero_size + " has zero size"), std::string::npos);

  const std::string junk = write_bytes("junk.dcm", std::vector<uint8_t>(300, 7));
  EXPECT_NE(error_of(junk).find("cannot read DICOM file " + junk), std::string::npos);
}

TEST(Batch, KeepsInputOrderAndReportsEveryFailure) {
  std::vector<std::string> paths;
  for (int i = 0; i < 6; ++i) paths.push_back(write_png("batch" + std::to_string(i) + ".png", cv::Mat(9, 7, CV_8UC1, cv::Scalar(i * 40))));
  PreprocessOptions o;
  o.image_size = 8;
  const std::vector<Pixels> out = preprocess_files(paths, o, 3);
  ASSERT_EQ(out.size(), paths.size());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i].data, preprocess_file(paths[i], o).data) << "image " << i;

  paths.push_back((temp_dir() / "nope1.png").string());
  paths.insert(paths.begin(), (temp_dir() / "nope0.png").string());
  try {
    preprocess_files(paths, o, 3);
    FAIL() << "expected an error";
  } catch (const medvqa::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(2 problems)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nope0.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nope1.png"), std::string::npos) << msg;
  }
}
