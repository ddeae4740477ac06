#include "medvqa/vision/image.h"

#include <algorithm>

namespace medvqa::vision {

int channels(Mode mode) {
  switch (mode) {
    case Mode::k1:
    case Mode::kL: return 1;
    case Mode::kLA: return 2;
    case Mode::kP:
    case Mode::kRGB: return 3;
    case Mode::kRGBA: return 4;
  }
  return 0;
}

std::string mode_name(Mode mode) {
  switch (mode) {
    case Mode::k1: return "1";
    case Mode::kL: return "L";
    case Mode::kLA: return "LA";
    case Mode::kP: return "P";
    case Mode::kRGB: return "RGB";
    case Mode::kRGBA: return "RGBA";
  }
  return "?";
}

Image to_rgb(const Image& image) {
  if (image.mode == Mode::kRGB) return image;
  Image out(image.width, image.height, Mode::kRGB);
  const int c = image.channels();
  const size_t n = size_t(image.width) * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  // Gray (1, L, LA) replicates the first sample; colour (P, RGBA) keeps the first three.
  const bool gray = c < 3;
  for (size_t i = 0; i < n; ++i, in += c, o += 3) {
    o[0] = in[0];
    o[1] = gray ? in[0] : in[1];
    o[2] = gray ? in[0] : in[2];
  }
  return out;
}

namespace {
bool has_alpha(Mode mode) { return mode == Mode::kLA || mode == Mode::kRGBA; }
}  // namespace

Image premultiply_alpha(const Image& image) {
  if (!has_alpha(image.mode)) return image;
  Image out = image;
  const int c = image.channels();
  for (size_t i = 0; i < out.pixels.size(); i += c) {
    const unsigned alpha = out.pixels[i + c - 1];
    for (int j = 0; j < c - 1; ++j) {
      const unsigned t = out.pixels[i + j] * alpha + 128;  // PIL's MULDIV255: exact rounding of v*a/255
      out.pixels[i + j] = uint8_t(((t >> 8) + t) >> 8);
    }
  }
  return out;
}

Image unpremultiply_alpha(const Image& image) {
  if (!has_alpha(image.mode)) return image;
  Image out = image;
  const int c = image.channels();
  for (size_t i = 0; i < out.pixels.size(); i += c) {
    const unsigned alpha = out.pixels[i + c - 1];
    if (alpha == 0 || alpha == 255) continue;
    for (int j = 0; j < c - 1; ++j) out.pixels[i + j] = uint8_t(std::min(255u, 255u * out.pixels[i + j] / alpha));
  }
  return out;
}

}  // namespace medvqa::vision
