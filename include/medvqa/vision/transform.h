// open_clip's eval transform on a decoded image, in its order: resize the shortest side (PIL
// bicubic, in the image's own mode) -> centre crop -> convert("RGB") -> /255 -> normalise; or
// LLaVA-1.5's pad-to-square. Returns plain float buffers; tensors are the caller's business.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "medvqa/vision/decode.h"
#include "medvqa/vision/image.h"

namespace medvqa::vision {

enum class ResizeMode {
  kCrop,  // open_clip / torchvision: Resize(shortest side) + CenterCrop
  kPad,   // LLaVA-1.5 expand2square with the mean colour, then the same resize and crop
};
ResizeMode parse_resize_mode(const std::string& text);  // "crop" | "pad"

// OpenAI CLIP's statistics: open_clip's defaults when preprocess_cfg has no mean/std.
constexpr std::array<double, 3> kClipMean = {0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kClipStd = {0.26862954, 0.26130258, 0.27577711};

struct PreprocessOptions {
  int image_size = 224;
  std::array<double, 3> mean = kClipMean;
  std::array<double, 3> std = kClipStd;
  ResizeMode resize_mode = ResizeMode::kCrop;
  DecodeOptions decode;
};

// image_size from model_cfg.vision_cfg.image_size, mean/std from preprocess_cfg of
// DIR/open_clip_config.json; other preprocess_cfg values must be open_clip's defaults we implement.
PreprocessOptions read_preprocess_options(const std::string& vision_dir);

struct Pixels {
  int channels = 3;
  int height = 0;
  int width = 0;
  std::vector<float> data;  // [channels, height, width]
};

// torchvision's Resize(size) on a PIL image: the short side becomes `size`, the long side
// int(size * long / short). Returns {width, height}.
std::array<int, 2> shortest_side_size(int width, int height, int size);
// torchvision's CenterCrop offset: int(round((in - out) / 2.0)), Python's round-half-even.
int center_crop_offset(int in, int out);
// LLaVA-1.5's expand2square: the image centred (offset (long - short) // 2) on a square of `fill`.
Image expand_to_square(const Image& image, const std::array<uint8_t, 3>& fill);

Pixels preprocess(const Image& image, const PreprocessOptions& options);
Pixels preprocess_file(const std::string& path, const PreprocessOptions& options);

}  // namespace medvqa::vision
