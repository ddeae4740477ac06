#include "medvqa/train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace medvqa;

TEST(Schedule, WarmupThenCosineLikeTransformers) {
  // transformers: warmup = ceil(0.03 * 100) = 3; lambda(s) = s / 3 during warmup.
  EXPECT_EQ(warmup_steps(100, 0.03), 3);
  EXPECT_DOUBLE_EQ(lr_factor(0, 100, 0.03), 0.0);
  EXPECT_DOUBLE_EQ(lr_factor(2, 100, 0.03), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(lr_factor(3, 100, 0.03), 1.0);
  double mid = lr_factor(3 + 97 / 2, 100, 0.03);
  EXPECT_NEAR(mid, 0.5 * (1 + std::cos(M_PI * 48.0 / 97.0)), 1e-12);
  EXPECT_NEAR(lr_factor(100, 100, 0.03), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(lr_factor(0, 10, 0.0), 1.0);
}
