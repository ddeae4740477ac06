#include "medvqa/models/trainable_tokens.h"

#include <set>

#include "medvqa/core/error.h"
#include "medvqa/models/decoder_linear.h"

namespace medvqa {

TrainableTokensImpl::TrainableTokensImpl(const at::Tensor& base_weight, std::vector<int64_t> ids,
                                         std::optional<c10::ScalarType> dtype)
    : ids_(std::move(ids)) {
  const int64_t vocab = base_weight.size(0);
  MEDVQA_CHECK(!ids_.empty(), "trainable tokens: no token ids given");
  MEDVQA_CHECK(std::set<int64_t>(ids_.begin(), ids_.end()).size() == ids_.size(), "trainable tokens: repeated token ids");
  for (int64_t id : ids_)
    MEDVQA_CHECK(id >= 0 && id < vocab, "trainable tokens: token id ", id, " outside the vocabulary [0, ", vocab, ")");
  auto long_options = torch::TensorOptions().dtype(torch::kInt64).device(base_weight.device());
  index_ = torch::tensor(ids_, long_options.device(torch::kCPU)).to(base_weight.device());
  slot_ = torch::full({vocab}, -1, long_options);
  slot_.index_put_({index_}, torch::arange(static_cast<int64_t>(ids_.size()), long_options));
  torch::NoGradGuard no_grad;
  trainable_tokens_delta = register_parameter("trainable_tokens_delta",
                                              base_weight.index_select(0, index_).to(dtype.value_or(base_weight.scalar_type()), false, true));
}

at::Tensor TrainableTokensImpl::embed(const at::Tensor& ids, const at::Tensor& embedded) {
  at::Tensor slot = slot_.index_select(0, ids.flatten()).view(ids.sizes());  // [B, T]
  at::Tensor rows = trainable_tokens_delta.to(embedded.scalar_type())
                        .index_select(0, slot.clamp_min(0).flatten())
                        .view(embedded.sizes());  // [B, T, dim]
  return torch::where((slot >= 0).unsqueeze(-1), rows, embedded);
}

at::Tensor TrainableTokensImpl::logits(const at::Tensor& h, const at::Tensor& logits) {
  at::Tensor columns = decoder_linear(h, trainable_tokens_delta.to(h.scalar_type()));  // [..., k]
  return logits.index_copy(-1, index_, columns.to(logits.scalar_type()));
}

}  // namespace medvqa
