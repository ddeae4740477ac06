#include "medvqa/data/batch.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <numeric>

#include "common/test_util.h"

using namespace medvqa;

namespace {

vision::Pixels image(int height, int width, float first) {
  vision::Pixels p;
  p.height = height;
  p.width = width;
  p.data.resize(static_cast<size_t>(3) * height * width);
  std::iota(p.data.begin(), p.data.end(), first);
  return p;
}

TEST(Collate, PadsIdsAndLabelsMasksPaddingAndStacksImages) {
  std::vector<Sample> samples = {{{5, 6, 7}, {-100, 6, 7}}, {{8}, {8}}};
  Batch b = collate(samples, {image(2, 4, 0), image(2, 4, 100)}, /*pad_id=*/0);
  EXPECT_TRUE(at::equal(b.input_ids, at::tensor({5, 6, 7, 8, 0, 0}, at::kLong).view({2, 3})));
  EXPECT_TRUE(at::equal(b.labels, at::tensor({-100, 6, 7, 8, -100, -100}, at::kLong).view({2, 3})));
  EXPECT_TRUE(at::equal(b.attention_mask, at::tensor({1, 1, 1, 1, 0, 0}, at::kLong).view({2, 3}).to(at::kBool)));
  EXPECT_EQ(b.pixels.sizes(), (std::vector<int64_t>{2, 3, 2, 4}));
  EXPECT_TRUE(at::equal(b.pixels[1], at::arange(100, 124, at::kFloat).view({3, 2, 4})));
}

TEST(StackPixels, NamesTheImageOfAnotherSize) {
  const std::string msg = test_util::error_message([] { stack_pixels({image(2, 2, 0), image(2, 2, 0), image(3, 2, 0)}); });
  EXPECT_NE(msg.find("image 2 is 3x3x2, image 0 is 3x2x2"), std::string::npos) << msg;
  EXPECT_NE(test_util::error_message([] { stack_pixels({}); }).find("no images"), std::string::npos);
}

}  // namespace
