#include "medvqa/vision/window.h"

#include <gtest/gtest.h>
#include "common/test_util.h"

#include "medvqa/core/error.h"

using namespace medvqa::vision;

namespace {
std::string error_of(const std::string& text) {
  return medvqa::test_util::error_message([&] { parse_window(text); });
}
}  // namespace

TEST(Window, ParsesCenterAndWidth) {
  const Window w = parse_window("-600,1500.5");
  EXPECT_DOUBLE_EQ(w.center, -600);
  EXPECT_DOUBLE_EQ(w.width, 1500.5);
}

TEST(Window, RejectsMalformedText) {
  EXPECT_NE(error_of("40").find("expected CENTER,WIDTH"), std::string::npos);
  EXPECT_NE(error_of("40,abc").find("'40,abc'"), std::string::npos);
  EXPECT_NE(error_of(",400").find("expected CENTER,WIDTH"), std::string::npos);
  EXPECT_NE(error_of("40,0.5").find("must be >= 1"), std::string::npos);
}

TEST(Window, LinearVoiFunctionOfDicom) {
  // PS3.3 C.11.2.1.2.1 with c = 40, w = 400: x <= -160 -> 0, x > 239 -> 255, linear between.
  const Window w{40, 400};
  EXPECT_EQ(apply_window(-1000, w), 0);
  EXPECT_EQ(apply_window(-160, w), 0);
  EXPECT_EQ(apply_window(-159, w), 1);  // (-159 - 39.5) / 399 + 0.5 = 0.0025 -> 0.64 -> 1
  EXPECT_EQ(apply_window(39.5, w), 128);  // exactly half: 127.5 rounds up
  EXPECT_EQ(apply_window(239, w), 255);
  EXPECT_EQ(apply_window(3000, w), 255);
}

TEST(Window, FullRangeMapsMinToZeroAndMaxTo255) {
  const std::vector<double> values = {100, 600, 1100, 350};
  EXPECT_EQ(window_to_8bit(values, nullptr), (std::vector<uint8_t>{0, 128, 255, 64}));  // 63.75 -> 64
  EXPECT_EQ(window_to_8bit({7, 7, 7}, nullptr), (std::vector<uint8_t>{0, 0, 0}));
  const Window narrow{600, 2};
  EXPECT_EQ(window_to_8bit(values, &narrow), (std::vector<uint8_t>{0, 255, 255, 0}));
}
