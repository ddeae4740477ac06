// Expected values were produced by Pillow 13 (Image.resize(size, BICUBIC)) on the same inputs.
#include "medvqa/vision/resample.h"

#include <gtest/gtest.h>

#include "medvqa/core/error.h"

using namespace medvqa::vision;

namespace {

Image make(int w, int h, Mode mode, std::vector<uint8_t> pixels) {
  Image im(w, h, mode);
  EXPECT_EQ(im.pixels.size(), pixels.size());
  im.pixels = std::move(pixels);
  return im;
}

const std::vector<uint8_t> kRow = {0, 100, 200, 255, 30};
const std::vector<uint8_t> kGrid = {10, 200, 30, 250, 0, 128, 77, 66, 255};

}  // namespace

TEST(Resample, BicubicDownscaleMatchesPillow) {
  EXPECT_EQ(resize(make(5, 1, Mode::kL, kRow), 2, 1).pixels, (std::vector<uint8_t>{96, 167}));
  EXPECT_EQ(resize(make(3, 3, Mode::kL, kGrid), 2, 2).pixels, (std::vector<uint8_t>{113, 84, 101, 147}));
}

TEST(Resample, BicubicUpscaleMatchesPillowIncludingClipping) {
  // 255 and 0 in the output come from the clipped overshoot of the negative lobes.
  EXPECT_EQ(resize(make(5, 1, Mode::kL, kRow), 8, 1).pixels, (std::vector<uint8_t>{0, 34, 106, 172, 230, 255, 122, 14}));
  EXPECT_EQ(resize(make(3, 3, Mode::kL, kGrid), 4, 5).pixels,
            (std::vector<uint8_t>{0, 145, 159, 12, 97, 122, 103, 56, 255, 84, 30, 135, 152, 64, 93, 218, 65, 55, 144, 255}));
}

TEST(Resample, VerticalPassFirstWhenHeightShrinksMuchMore) {
  // 4x9 -> 3x3: the height loses 6 rows, more than twice the 1 column the width loses, so Pillow 13
  // resamples vertically first; horizontal-first would give 83, 97 instead of 84, 96 here.
  const Image tall = make(4, 9, Mode::kL, {10, 200, 30, 90, 250, 0, 128, 7, 77, 66, 255, 1, 5, 99, 180, 240, 33, 44,
                                           55, 66, 200, 10, 250, 3, 0, 255, 0, 255, 120, 130, 140, 150, 9, 8, 7, 6});
  EXPECT_EQ(resize(tall, 3, 3).pixels, (std::vector<uint8_t>{100, 114, 78, 66, 114, 124, 84, 96, 107}));
  const Image part = resize(tall, 3, 3, Rect{1, 1, 2, 2});
  EXPECT_EQ(part.pixels, (std::vector<uint8_t>{114, 124, 96, 107}));
}

TEST(Resample, RegionEqualsCropOfFullResize) {
  const Image src = make(3, 3, Mode::kL, kGrid);
  const Image full = resize(src, 4, 5);
  const Image part = resize(src, 4, 5, Rect{1, 2, 2, 3});
  ASSERT_EQ(part.width, 2);
  ASSERT_EQ(part.height, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_EQ(part.row(y)[x], full.row(y + 2)[x + 1]) << "at " << x << "," << y;
}

TEST(Resample, RgbaIsResizedPremultiplied) {
  // Without premultiplication the fully transparent green would bleed into its neighbours.
  const Image rgba = make(4, 1, Mode::kRGBA, {255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128, 200, 100, 50, 64});
  EXPECT_EQ(resize(rgba, 3, 1).pixels, (std::vector<uint8_t>{255, 0, 0, 185, 0, 0, 255, 57, 111, 55, 143, 87}));
}

TEST(Resample, PaletteUsesNearestWhateverTheFilter) {
  std::vector<uint8_t> px;
  for (uint8_t i = 0; i < 7; ++i) px.insert(px.end(), {i, i, i});
  const Image p = make(7, 1, Mode::kP, px);
  const Image down = resize(p, 3, 1), up = resize(p, 10, 1);
  EXPECT_EQ(down.pixels, (std::vector<uint8_t>{1, 1, 1, 3, 3, 3, 5, 5, 5}));
  const std::vector<uint8_t> expected_up = {0, 1, 1, 2, 3, 3, 4, 5, 5, 6};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(up.pixels[x * 3], expected_up[x]) << "at " << x;
}

TEST(Resample, SameSizeIsACopy) {
  const Image src = make(3, 3, Mode::kL, kGrid);
  EXPECT_EQ(resize(src, 3, 3).pixels, kGrid);
}

TEST(Resample, RejectsRegionOutsideTheOutput) {
  const Image src = make(3, 3, Mode::kL, kGrid);
  EXPECT_THROW(resize(src, 4, 4, Rect{2, 0, 3, 4}), medvqa::Error);
  EXPECT_THROW(resize(src, 0, 4), medvqa::Error);
}

TEST(Convert, PremultiplyRoundTripFollowsPillow) {
  // Pillow: 200 * 64 / 255 -> 50 (MULDIV255), back 50 * 255 / 64 -> 199 (truncated).
  const Image la = make(2, 1, Mode::kLA, {200, 64, 77, 0});
  const Image pre = premultiply_alpha(la);
  EXPECT_EQ(pre.pixels, (std::vector<uint8_t>{50, 64, 0, 0}));
  EXPECT_EQ(unpremultiply_alpha(pre).pixels, (std::vector<uint8_t>{199, 64, 0, 0}));
}

TEST(Convert, ToRgbAsPillow) {
  EXPECT_EQ(to_rgb(make(1, 1, Mode::kLA, {9, 1})).pixels, (std::vector<uint8_t>{9, 9, 9}));
  EXPECT_EQ(to_rgb(make(1, 1, Mode::kRGBA, {1, 2, 3, 0})).pixels, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(to_rgb(make(1, 1, Mode::k1, {255})).pixels, (std::vector<uint8_t>{255, 255, 255}));
}
