#include "medvqa/models/decode_batch.h"

#include <algorithm>

#include "medvqa/core/error.h"

namespace medvqa {

DecodeBatch::DecodeBatch(Llama model, int64_t max_batch, int64_t capacity)
    : model_(std::move(model)),
      cache_(model_->options(), max_batch, capacity, model_->model->embed_tokens->weight.options(), /*rows_alone=*/true) {
  MEDVQA_CHECK(max_batch > 0 && capacity > 0, "decode batch: max_batch and capacity must be positive, got ", max_batch,
               " and ", capacity);
}

std::pair<int64_t, at::Tensor> DecodeBatch::add(const at::Tensor& inputs_embeds) {
  c10::InferenceMode inference;
  const int64_t T = inputs_embeds.size(1);
  MEDVQA_CHECK(size() < max_batch(), "decode batch: all ", max_batch(), " rows are running");
  MEDVQA_CHECK(inputs_embeds.size(0) == 1 && T > 0, "decode batch: add takes one prompt [1, T, hidden], got ",
               inputs_embeds.sizes());
  MEDVQA_CHECK(T < capacity(), "decode batch: a prompt of ", T, " tokens leaves no room to answer in ", capacity());
  const int64_t row = size();
  cache_.clear_row(row);
  KVCache alone = cache_.rows(row, 1);
  LlamaInput in;
  in.inputs_embeds = inputs_embeds;
  in.logits_at = torch::full({1}, T - 1, torch::TensorOptions().dtype(torch::kInt64).device(inputs_embeds.device()));
  at::Tensor logits = model_->forward(in, &alone).squeeze(0);  // [vocab]
  ids_.push_back(next_id_);
  return {next_id_++, logits};
}

at::Tensor DecodeBatch::step(const std::vector<int64_t>& tokens) {
  c10::InferenceMode inference;
  const int64_t n = size();
  MEDVQA_CHECK(static_cast<int64_t>(tokens.size()) == n, "decode batch: ", tokens.size(), " tokens for ", n,
               " sequences");
  MEDVQA_CHECK(n > 0, "decode batch: no sequence is running");
  KVCache running = cache_.rows(0, n);
  std::vector<int64_t> positions(n);
  for (int64_t r = 0; r < n; ++r) {
    positions[r] = running.length(r);
    MEDVQA_CHECK(positions[r] < capacity(), "decode batch: sequence ", ids_[r], " is at the capacity of ", capacity(),
                 " tokens");
  }
  const auto device = model_->model->embed_tokens->weight.device();
  LlamaInput in;
  in.input_ids = torch::tensor(tokens, torch::kInt64).view({n, 1}).to(device);
  in.position_ids = torch::tensor(positions, torch::kInt64).view({n, 1}).to(device);
  return model_->forward(in, &running).select(1, 0);  // [n, 1, vocab] -> [n, vocab]
}

void DecodeBatch::remove(int64_t id) {
  const auto it = std::find(ids_.begin(), ids_.end(), id);
  MEDVQA_CHECK(it != ids_.end(), "decode batch: no running sequence ", id);
  const int64_t row = it - ids_.begin(), last = size() - 1;
  if (row != last) {
    cache_.move_row(last, row);
    *it = ids_.back();
  }
  ids_.pop_back();
}

}  // namespace medvqa
