#include "medvqa/data/batch.h"

#include <ATen/ATen.h>

#include <cstring>

#include "medvqa/core/error.h"

namespace medvqa {

Batch collate(const std::vector<Sample>& samples, const std::vector<vision::Pixels>& pixels, int64_t pad_id) {
  MEDVQA_CHECK(!samples.empty() && samples.size() == pixels.size(), "collate: ", samples.size(), " samples but ",
               pixels.size(), " images");
  int64_t B = static_cast<int64_t>(samples.size()), T = 0;
  bool labelled = !samples[0].labels.empty();
  for (const auto& s : samples) T = std::max<int64_t>(T, static_cast<int64_t>(s.ids.size()));
  Batch b;
  b.input_ids = at::full({B, T}, pad_id, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kBool);
  if (labelled) b.labels = at::full({B, T}, kIgnoreIndex, at::kLong);
  b.pixels = stack_pixels(pixels);
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = samples[i];
    int64_t n = static_cast<int64_t>(s.ids.size());
    b.input_ids[i].narrow(0, 0, n).copy_(at::tensor(s.ids, at::kLong));
    b.attention_mask[i].narrow(0, 0, n).fill_(true);
    if (labelled) b.labels[i].narrow(0, 0, n).copy_(at::tensor(s.labels, at::kLong));
  }
  return b;
}

at::Tensor stack_pixels(const std::vector<vision::Pixels>& images) {
  MEDVQA_CHECK(!images.empty(), "stack_pixels: no images");
  const auto& first = images[0];
  at::Tensor out = at::empty({static_cast<int64_t>(images.size()), first.channels, first.height, first.width}, at::kFloat);
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& p = images[i];
    MEDVQA_CHECK(p.channels == first.channels && p.height == first.height && p.width == first.width,
                 "stack_pixels: image ", i, " is ", p.channels, "x", p.height, "x", p.width, ", image 0 is ",
                 first.channels, "x", first.height, "x", first.width, ": one batch needs one size");
    std::memcpy(out[static_cast<int64_t>(i)].data_ptr<float>(), p.data.data(), p.data.size() * sizeof(float));
  }
  return out;
}

}  // namespace medvqa
