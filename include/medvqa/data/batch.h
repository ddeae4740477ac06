// Samples + preprocessed images -> one batch of tensors: ids right-padded with the pad id,
// labels with -100 (padding never carries a label), a boolean attention mask, stacked pixels.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "medvqa/data/prompt.h"
#include "medvqa/vision/transform.h"

namespace medvqa {

struct Batch {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor labels;          // [B, T] int64, -100 = no loss (undefined for generation prompts)
  at::Tensor attention_mask;  // [B, T] bool, false on padding
  at::Tensor pixels;          // [B, 3, H, W] float32
  std::vector<size_t> indices;  // positions of the items in their dataset
};

Batch collate(const std::vector<Sample>& samples, const std::vector<vision::Pixels>& pixels, int64_t pad_id);

// Preprocessed images of one size as one fp32 CPU tensor [B, C, H, W].
at::Tensor stack_pixels(const std::vector<vision::Pixels>& images);

}  // namespace medvqa
