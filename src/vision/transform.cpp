#include "medvqa/vision/transform.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "medvqa/core/error.h"
#include "medvqa/vision/resample.h"

namespace medvqa::vision {

ResizeMode parse_resize_mode(const std::string& text) {
  if (text == "crop") return ResizeMode::kCrop;
  if (text == "pad") return ResizeMode::kPad;
  MEDVQA_FAIL("resize mode must be 'crop' or 'pad', got '", text, "'");
}

namespace {

std::array<double, 3> read_triple(const nlohmann::json& cfg, const char* key, const std::array<double, 3>& fallback,
                                  const std::string& where) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  const auto& v = cfg[key];
  if (v.is_number()) return {v.get<double>(), v.get<double>(), v.get<double>()};  // open_clip repeats a scalar
  MEDVQA_CHECK(v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() && v[2].is_number(), where,
               ": preprocess_cfg.", key, " must be a number or a list of 3 numbers, got ", v.dump());
  return {v[0].get<double>(), v[1].get<double>(), v[2].get<double>()};
}

}  // namespace

PreprocessOptions read_preprocess_options(const std::string& vision_dir) {
  const std::string path = (std::filesystem::path(vision_dir) / "open_clip_config.json").string();
  std::ifstream in(path);
  MEDVQA_CHECK(in, "cannot open ", path, ": --vision must be an open_clip directory with open_clip_config.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    MEDVQA_FAIL(path, ": invalid JSON: ", e.what());
  }
  PreprocessOptions o;
  const nlohmann::json vision = j.value("/model_cfg/vision_cfg"_json_pointer, nlohmann::json::object());
  if (vision.contains("image_size")) {
    MEDVQA_CHECK(vision["image_size"].is_number_integer() && vision["image_size"].get<int>() > 0, path,
                 ": model_cfg.vision_cfg.image_size must be a positive integer (a square size), got ",
                 vision["image_size"].dump());
    o.image_size = vision["image_size"].get<int>();
  }
  const nlohmann::json cfg = j.value("preprocess_cfg", nlohmann::json::object());
  o.mean = read_triple(cfg, "mean", kClipMean, path);
  o.std = read_triple(cfg, "std", kClipStd, path);
  for (double s : o.std) MEDVQA_CHECK(s > 0, path, ": preprocess_cfg.std must be positive, got ", s);
  // open_clip's other eval options; only its defaults are implemented, so refuse the rest loudly.
  const std::pair<const char*, const char*> defaults[] = {{"interpolation", "bicubic"}, {"resize_mode", "shortest"}};
  for (const auto& [key, value] : defaults) {
    const bool ok = !cfg.contains(key) || cfg[key].is_null() || cfg[key] == value;
    MEDVQA_CHECK(ok, path, ": preprocess_cfg.", key, " = ", cfg[key].dump(), " is not supported (only '", value, "')");
  }
  return o;
}

std::array<int, 2> shortest_side_size(int width, int height, int size) {
  const int shorter = std::min(width, height), longer = std::max(width, height);
  const int scaled = int(double(int64_t(size) * longer) / shorter);  // Python's int(size * long / short)
  return width <= height ? std::array<int, 2>{size, scaled} : std::array<int, 2>{scaled, size};
}

int center_crop_offset(int in, int out) {
  const int diff = in - out, half = diff / 2;
  return (diff % 2 != 0 && half % 2 != 0) ? half + 1 : half;  // .5 rounds to the even neighbour
}

Image expand_to_square(const Image& image, const std::array<uint8_t, 3>& fill) {
  MEDVQA_CHECK(image.mode == Mode::kRGB, "image: expand_to_square takes RGB, got ", mode_name(image.mode));
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  Image out(side, side, Mode::kRGB);
  for (size_t i = 0; i < out.pixels.size(); i += 3) std::copy(fill.begin(), fill.end(), &out.pixels[i]);
  const int x0 = (side - image.width) / 2, y0 = (side - image.height) / 2;
  for (int y = 0; y < image.height; ++y) std::copy_n(image.row(y), size_t(image.width) * 3, out.row(y0 + y) + x0 * 3);
  return out;
}

Pixels preprocess(const Image& image, const PreprocessOptions& options) {
  const int s = options.image_size;
  Image padded;
  if (options.resize_mode == ResizeMode::kPad) {
    // LLaVA: convert("RGB") first, background tuple(int(x * 255) for x in image_mean).
    std::array<uint8_t, 3> fill{};
    for (int c = 0; c < 3; ++c) fill[c] = uint8_t(options.mean[c] * 255);
    padded = expand_to_square(to_rgb(image), fill);
  }
  const Image& source = options.resize_mode == ResizeMode::kPad ? padded : image;
  const auto [w, h] = shortest_side_size(source.width, source.height, s);
  const Rect crop{center_crop_offset(w, s), center_crop_offset(h, s), s, s};
  const Image rgb = to_rgb(resize(source, w, h, crop));
  Pixels p;
  p.height = p.width = s;
  p.data.resize(size_t(3) * s * s);
  // torchvision: to float32, / 255, then (x - mean) / std with float32 mean and std.
  for (int c = 0; c < 3; ++c) {
    const float mean = float(options.mean[c]), std = float(options.std[c]);
    float* out = p.data.data() + size_t(c) * s * s;
    for (size_t i = 0; i < size_t(s) * s; ++i) out[i] = (float(rgb.pixels[i * 3 + c]) / 255.0f - mean) / std;
  }
  return p;
}

Pixels preprocess_file(const std::string& path, const PreprocessOptions& options) {
  return preprocess(decode_image(path, options.decode), options);
}

}  // namespace medvqa::vision
