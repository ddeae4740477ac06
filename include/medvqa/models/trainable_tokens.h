// Trainable rows of a frozen embedding or LM-head matrix, as PEFT's trainable_token_indices: a
// parameter "trainable_tokens_delta" [k, dim] holds the new values of rows `ids` (initialised to
// the originals) and replaces them in use; the matrix itself never changes. Registered as the
// submodule "token_adapter" of the layer it adapts, so its key is PEFT's. Files: peft_adapter.h.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace medvqa {

class TrainableTokensImpl : public torch::nn::Module {
 public:
  // base_weight [vocab, dim]; ids distinct, in [0, vocab). The rows start as the base's, held in
  // `dtype` (default: the base's).
  TrainableTokensImpl(const at::Tensor& base_weight, std::vector<int64_t> ids,
                      std::optional<c10::ScalarType> dtype = std::nullopt);

  // embedded [B, T, dim] = base rows of ids [B, T] -> the same with the trainable rows' values.
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& embedded);
  // logits [..., vocab] = h [..., dim] x base^T -> the same with the trainable rows' columns.
  at::Tensor logits(const at::Tensor& h, const at::Tensor& logits);

  const std::vector<int64_t>& ids() const { return ids_; }
  at::Tensor trainable_tokens_delta;  // [k, dim]

 private:
  std::vector<int64_t> ids_;
  at::Tensor index_;  // int64 [k]: ids_
  at::Tensor slot_;   // int64 [vocab]: row of trainable_tokens_delta, -1 for frozen rows
};
TORCH_MODULE(TrainableTokens);

}  // namespace medvqa
