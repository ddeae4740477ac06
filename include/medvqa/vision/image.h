// The decoded 8-bit image of the vision pipeline, in the mode PIL would give it (L, LA, RGB, RGBA,
// P, 1), and PIL's convert("RGB") / premultiplied-alpha conversions between modes.
// Decoding lives in decode.h, resampling in resample.h, the open_clip transform in transform.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace medvqa::vision {

// kP and k1 are stored already expanded (P: the palette's RGB, 1: 0 or 255). That is equivalent to
// PIL's index images because PIL resizes them only with NEAREST, which commutes with the lookup.
enum class Mode { k1, kL, kLA, kP, kRGB, kRGBA };

int channels(Mode mode);
std::string mode_name(Mode mode);  // PIL's name: "1", "L", "LA", "P", "RGB", "RGBA"

struct Image {
  int width = 0;
  int height = 0;
  Mode mode = Mode::kL;
  std::vector<uint8_t> pixels;  // row-major, interleaved, channels(mode) bytes per pixel

  Image() = default;
  Image(int w, int h, Mode m) : width(w), height(h), mode(m), pixels(size_t(w) * h * vision::channels(m)) {}
  int channels() const { return vision::channels(mode); }
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels(); }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels(); }
};

// PIL's convert("RGB"): L/1 replicated, alpha dropped, palette already looked up.
Image to_rgb(const Image& image);
// PIL's RGBA -> RGBa and LA -> La (colour * alpha / 255, rounded as PIL's MULDIV255) and back
// (colour * 255 / alpha, truncated; alpha 0 or 255 leaves colour as it is).
Image premultiply_alpha(const Image& image);
Image unpremultiply_alpha(const Image& image);

}  // namespace medvqa::vision
