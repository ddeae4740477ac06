// Continuous batching's decode loop over one Llama: sequences join (their prompt prefilled alone in
// a free row of the KV cache) and leave between decode steps, and each step feeds every running
// sequence its last token at its own position. A sequence's logits are those it would get decoded
// alone: its prefill runs alone, its attention reads only its own row, and on the CPU the decoder's
// linear kernels sum each row in the same order whatever rows are beside it (decoder_linear.h, up
// to kSmallBatchMaxRows rows). Choosing tokens, stopping and text are the caller's.
#pragma once

#include <utility>
#include <vector>

#include "medvqa/models/llama.h"

namespace medvqa {

class DecodeBatch {
 public:
  // Room for max_batch sequences of up to `capacity` tokens each (prompt and answer).
  DecodeBatch(Llama model, int64_t max_batch, int64_t capacity);

  int64_t size() const { return static_cast<int64_t>(ids_.size()); }
  int64_t max_batch() const { return cache_.batch(); }
  int64_t capacity() const { return cache_.capacity(); }
  // The running sequences' ids in the order step() takes their tokens and returns their logits.
  const std::vector<int64_t>& ids() const { return ids_; }

  // Prefills a prompt (inputs_embeds [1, T, hidden]) in a free row: the new sequence's id and the
  // logits [vocab] of its first token. Fails when every row is taken or T >= capacity().
  std::pair<int64_t, at::Tensor> add(const at::Tensor& inputs_embeds);
  // One token for each sequence of ids(), in that order -> their next logits [size(), vocab].
  // Fails for a sequence already at capacity().
  at::Tensor step(const std::vector<int64_t>& tokens);
  // Frees the sequence's row; the last sequence of ids() takes its place.
  void remove(int64_t id);

 private:
  Llama model_;
  KVCache cache_;
  std::vector<int64_t> ids_;  // the sequence in each used row, rows 0..size()-1
  int64_t next_id_ = 0;
};

}  // namespace medvqa
