#include "medvqa/vision/resample.h"

#include <algorithm>
#include <cmath>

#include "medvqa/core/error.h"

namespace medvqa::vision {
namespace {

// Pillow keeps 2 bits of headroom for the negative lobes and the sum of weights above 1.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One output position's taps: input start, count, and their offset into the weight table.
struct Taps {
  int ksize = 0;
  std::vector<int> start, count;
  std::vector<int32_t> weights;  // [out_size, ksize], fixed point
  const int32_t* at(int i) const { return weights.data() + size_t(i) * ksize; }
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc, for a box covering the whole input.
Taps bicubic_taps(int in_size, int out_size) {
  const double scale = double(float(in_size)) / out_size;  // Pillow's box edges are floats
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = int(std::ceil(support)) * 2 + 1;
  t.start.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(size_t(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    int32_t* out = t.weights.data() + size_t(xx) * t.ksize;
    for (int x = 0; x < xmax; ++x) {
      const double w = (ww != 0.0 ? k[x] / ww : k[x]) * (1 << kPrecisionBits);
      out[x] = int32_t(w < 0 ? w - 0.5 : w + 0.5);
    }
    t.start[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

uint8_t clip8(int32_t v) { return uint8_t(std::clamp(v >> kPrecisionBits, 0, 255)); }

// The input range [first, last) that the taps of outputs [o0, o0 + n) read.
std::pair<int, int> span(const Taps& t, int o0, int n) {
  int first = t.start[o0], last = 0;
  for (int o = o0; o < o0 + n; ++o) {
    first = std::min(first, t.start[o]);
    last = std::max(last, t.start[o] + t.count[o]);
  }
  return {first, last};
}

// Output column xx of `out` is output position x0 + xx; `in` row y is source row in_row + y and
// `in` column 0 is source column in_col0.
template <int C>
void horizontal(const Image& in, int in_row, int in_col0, const Taps& t, int x0, Image& out) {
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(in_row + y);
    uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = t.at(x0 + xx);
      const uint8_t* s = src + size_t(t.start[x0 + xx] - in_col0) * C;
      int32_t acc[C];
      std::fill(acc, acc + C, 1 << (kPrecisionBits - 1));
      for (int x = 0; x < t.count[x0 + xx]; ++x)
        for (int c = 0; c < C; ++c) acc[c] += s[x * C + c] * k[x];
      for (int c = 0; c < C; ++c) dst[xx * C + c] = clip8(acc[c]);
    }
  }
}

// Output row yy of `out` is output position y0 + yy; `in` row 0 is source row in_row0 and `out`
// column x reads `in` column in_col + x.
template <int C>
void vertical(const Image& in, int in_row0, int in_col, const Taps& t, int y0, Image& out) {
  const int n = out.width * C;
  std::vector<int32_t> acc(n);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = t.at(y0 + yy);
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < t.count[y0 + yy]; ++y) {
      const uint8_t* src = in.row(t.start[y0 + yy] - in_row0 + y) + size_t(in_col) * C;
      for (int i = 0; i < n; ++i) acc[i] += src[i] * k[y];
    }
    uint8_t* dst = out.row(yy);
    for (int i = 0; i < n; ++i) dst[i] = clip8(acc[i]);
  }
}

template <int C>
Image bicubic_channels(const Image& image, int width, int height, const Rect& roi) {
  Image out(roi.width, roi.height, image.mode);
  // Pillow skips a pass whose size does not change (that pass would be the identity).
  const bool need_h = width != image.width, need_v = height != image.height;
  if (!need_h && !need_v) {
    for (int y = 0; y < roi.height; ++y)
      std::copy_n(image.row(roi.y + y) + size_t(roi.x) * C, size_t(roi.width) * C, out.row(y));
    return out;
  }
  const Taps th = need_h ? bicubic_taps(image.width, width) : Taps{};
  const Taps tv = need_v ? bicubic_taps(image.height, height) : Taps{};
  if (!need_v) {
    horizontal<C>(image, roi.y, 0, th, roi.x, out);
  } else if (!need_h) {
    vertical<C>(image, 0, roi.x, tv, roi.y, out);
  } else if (height < image.height && image.height - height > 2 * (image.width - width)) {
    // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many
    // pixels as the width; the rounding between passes makes the order visible in the result.
    const auto [first, last] = span(th, roi.x, roi.width);
    Image rows(last - first, roi.height, image.mode);
    vertical<C>(image, 0, first, tv, roi.y, rows);
    horizontal<C>(rows, 0, first, th, roi.x, out);
  } else {
    const auto [first, last] = span(tv, roi.y, roi.height);
    Image cols(roi.width, last - first, image.mode);
    horizontal<C>(image, first, 0, th, roi.x, cols);
    vertical<C>(cols, first, 0, tv, roi.y, out);
  }
  return out;
}

// Pillow's ImagingScaleAffine: the source coordinate is accumulated in double, one step per pixel.
std::vector<int> nearest_index(int in_size, int out_size) {
  const double step = double(float(in_size)) / out_size;
  std::vector<int> idx(out_size);
  double pos = step * 0.5;
  for (int i = 0; i < out_size; ++i, pos += step) idx[i] = std::min(int(pos), in_size - 1);
  return idx;
}

void check_geometry(const Image& image, int width, int height, const Rect& roi) {
  MEDVQA_CHECK(image.width > 0 && image.height > 0 && width > 0 && height > 0, "image: cannot resize ",
               image.width, "x", image.height, " to ", width, "x", height);
  MEDVQA_CHECK(roi.x >= 0 && roi.y >= 0 && roi.width > 0 && roi.height > 0 && roi.x + roi.width <= width &&
                   roi.y + roi.height <= height,
               "image: region ", roi.x, ",", roi.y, " ", roi.width, "x", roi.height, " outside ", width, "x", height);
}

}  // namespace

Image resample_bicubic(const Image& image, int width, int height, const Rect& roi) {
  check_geometry(image, width, height, roi);
  switch (image.channels()) {
    case 1: return bicubic_channels<1>(image, width, height, roi);
    case 2: return bicubic_channels<2>(image, width, height, roi);
    case 3: return bicubic_channels<3>(image, width, height, roi);
    default: return bicubic_channels<4>(image, width, height, roi);
  }
}

Image resample_nearest(const Image& image, int width, int height, const Rect& roi) {
  check_geometry(image, width, height, roi);
  const std::vector<int> xs = nearest_index(image.width, width), ys = nearest_index(image.height, height);
  const int c = image.channels();
  Image out(roi.width, roi.height, image.mode);
  for (int y = 0; y < roi.height; ++y) {
    const uint8_t* src = image.row(ys[roi.y + y]);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < roi.width; ++x) std::copy_n(src + size_t(xs[roi.x + x]) * c, c, dst + size_t(x) * c);
  }
  return out;
}

Image resize(const Image& image, int width, int height, const Rect& roi) {
  switch (image.mode) {
    case Mode::k1:
    case Mode::kP: return resample_nearest(image, width, height, roi);
    case Mode::kLA:
    case Mode::kRGBA:
      if (width == image.width && height == image.height) return resample_bicubic(image, width, height, roi);
      return unpremultiply_alpha(resample_bicubic(premultiply_alpha(image), width, height, roi));
    default: return resample_bicubic(image, width, height, roi);
  }
}

Image resize(const Image& image, int width, int height) { return resize(image, width, height, Rect{0, 0, width, height}); }

}  // namespace medvqa::vision
