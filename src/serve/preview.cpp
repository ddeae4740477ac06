#include "medvqa/serve/preview.h"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>

#include "medvqa/core/error.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/serve/api_error.h"

namespace medvqa::serve {

DataUrl parse_preview_request(const std::string& body, const RequestLimits& limits) {
  const JsonValue value = parse_request_body(body, limits);
  const JsonObject request(value, "request body");
  const std::string url = *as_bad_request("image", [&] { return request.string("image"); });
  return parse_data_url(url, "image", limits.max_image_bytes);
}

std::vector<uint8_t> preview_png(const vision::Pixels& pixels, const vision::PreprocessOptions& options) {
  MEDVQA_CHECK(pixels.channels == 3, "preview: expected 3 channels, found ", pixels.channels);
  const int h = pixels.height, w = pixels.width;
  cv::Mat bgr(h, w, CV_8UC3);
  for (int c = 0; c < 3; ++c) {
    const float* plane = pixels.data.data() + size_t(c) * h * w;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double v = (plane[size_t(y) * w + x] * options.std[c] + options.mean[c]) * 255;
        bgr.at<cv::Vec3b>(y, x)[2 - c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  }
  std::vector<uint8_t> png;
  MEDVQA_CHECK(cv::imencode(".png", bgr, png), "preview: cannot encode the image as PNG");
  return png;
}

}  // namespace medvqa::serve
