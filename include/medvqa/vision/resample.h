// Pillow's Image.resize for 8-bit images, to the integer: antialiased BICUBIC in fixed point
// (libImaging/Resample.c: two separable passes in Pillow 13's order, support 2 * scale), NEAREST as
// Pillow's affine scale, and resize()'s mode rules. Geometry (shortest side, crop) is transform.h's.
#pragma once

#include "medvqa/vision/image.h"

namespace medvqa::vision {

// A window of the output image; only its pixels are computed (each output pixel depends only on
// its own coordinates, so a region equals the same crop of the full resize).
struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Antialiased bicubic of every channel independently, as Pillow does for L, RGB, La, RGBa.
Image resample_bicubic(const Image& image, int width, int height, const Rect& roi);
// Pillow's NEAREST resize (source x = int((x + 0.5) * in / out), accumulated as Pillow does).
Image resample_nearest(const Image& image, int width, int height, const Rect& roi);

// Image.resize(size, BICUBIC) as Pillow applies it to the image's mode: 1 and P with NEAREST,
// LA and RGBA through premultiplied alpha, same size as a copy.
Image resize(const Image& image, int width, int height, const Rect& roi);
Image resize(const Image& image, int width, int height);

}  // namespace medvqa::vision
