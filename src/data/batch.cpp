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
  const auto& p0 = pixels[0];
  b.pixels = at::empty({B, p0.channels, p0.height, p0.width}, at::kFloat);
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = samples[i];
    int64_t n = static_cast<int64_t>(s.ids.size());
    b.input_ids[i].narrow(0, 0, n).copy_(at::tensor(s.ids, at::kLong));
    b.attention_mask[i].narrow(0, 0, n).fill_(true);
    if (labelled) b.labels[i].narrow(0, 0, n).copy_(at::tensor(s.labels, at::kLong));
    const auto& p = pixels[i];
    MEDVQA_CHECK(p.channels == p0.channels && p.height == p0.height && p.width == p0.width,
                 "collate: images of different sizes in one batch");
    std::memcpy(b.pixels[i].data_ptr<float>(), p.data.data(), p.data.size() * sizeof(float));
  }
  return b;
}

}  // namespace medvqa
