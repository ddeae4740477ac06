// The LLaMA decoder as transformers' LlamaForCausalLM defines it: fp32 RMSNorm, rotate-half RoPE
// (rope_theta, llama3 scaling), grouped-query attention through SDPA, SwiGLU, a KV cache.
// Submodule names are the HF checkpoint keys. Not here: reading configs and checkpoints
// (llama_loader.h) and choosing tokens (generation.h).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <vector>

#include "medvqa/models/lora.h"
#include "medvqa/models/trainable_tokens.h"

namespace medvqa {

// rope_type "llama3" (LLaMA-3.1 / 3.2); the defaults are LLaMA-3.1's.
struct RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// Hyper-parameters under their config.json names; defaults are Llama-3-8B's.
struct LlamaOptions {
  int64_t vocab_size = 128256;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 8;
  int64_t head_dim = 128;
  double rms_norm_eps = 1e-5;
  double rope_theta = 500000.0;
  std::optional<RopeScaling> rope_scaling;
  int64_t max_position_embeddings = 8192;
  bool tie_word_embeddings = false;
};

// Rotary inverse frequencies [head_dim / 2], fp32, computed as transformers does (in fp32).
at::Tensor rope_inv_freq(const LlamaOptions& options);

// SDPA's boolean mask [B, 1, T, S] for T queries at cache slots past..past+T-1 over S = past + T
// keys: key j is visible to query i when j <= past + i and key_valid[b, j] (key_valid [B, S]).
// A query always sees itself, so a padding query is never fully masked (SDPA would give NaN).
at::Tensor causal_padding_mask(const at::Tensor& key_valid, int64_t past);

// Keys and values of every layer for generation, preallocated [rows, kv_heads, capacity, head_dim],
// with a length per row. A padded batch (generate) writes its rows together: they stay at one
// length and attend as one batch. With rows_alone (continuous batching, decode_batch.h) rows are
// prefilled and freed one by one, so their lengths differ: a decode step writes each row at its own
// length, and each row attends to its own keys, as it would alone. rows(first, count) is a view on
// some rows that shares the storage and the lengths.
class KVCache {
 public:
  KVCache(const LlamaOptions& options, int64_t batch, int64_t capacity, const at::TensorOptions& tensor_options,
          bool rows_alone = false);
  int64_t batch() const { return count_; }
  bool rows_alone() const { return storage_->rows_alone; }
  int64_t capacity() const { return storage_->capacity; }
  int64_t length(int64_t row) const;
  // The rows' common length; fails when they differ.
  int64_t length() const;
  KVCache rows(int64_t first, int64_t count) const;
  // Writes k, v [batch(), H_kv, T, D] at slots length..length+T-1 of `layer` (rows at one length);
  // returns all keys and values so far [batch(), H_kv, length + T, D]. advance(T) commits the
  // slots of every row once every layer wrote.
  std::pair<at::Tensor, at::Tensor> write(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void advance(int64_t t);
  // Row `to` takes row `from`'s keys, values and length (freeing `from` for a new sequence).
  void move_row(int64_t from, int64_t to);
  // Empties a row (length 0) for a new sequence.
  void clear_row(int64_t row);

 private:
  struct Storage {
    std::vector<at::Tensor> keys, values;
    std::vector<int64_t> lengths;
    int64_t capacity = 0;
    bool rows_alone = false;
  };
  KVCache(std::shared_ptr<Storage> storage, int64_t first, int64_t count);
  std::shared_ptr<Storage> storage_;
  int64_t first_ = 0, count_ = 0;
};

struct LlamaInput {
  at::Tensor input_ids;      // [B, T] int64, or
  at::Tensor inputs_embeds;  // [B, T, hidden] (the VQA model splices image features in)
  // [B, T] int64 rotary positions; undefined -> cache length + 0..T-1 for every row.
  at::Tensor position_ids;
  // [B, S] bool over the cached and the new tokens (S = cache length + T), false = padding;
  // undefined -> no padding, and SDPA runs with is_causal alone (its fast kernels stay usable).
  at::Tensor attention_mask;
  // int64 [N] indices into the flattened [B * T] positions: the LM head runs only there
  // (training: label positions; generation: the last real token). Undefined -> every position.
  at::Tensor logits_at;
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaOptions& options);
  // x [B, T, hidden]; cos, sin [B, T, head_dim]; mask as causal_padding_mask or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     KVCache* cache, int64_t layer);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};  // LoRA-capable, keys unchanged

 private:
  // Rotated q [B, H, T, D] and k, v [B, H_kv, T, D] (appended to the cache's rows, all at one
  // length) -> attention output [B, T, H * D] before o_proj.
  at::Tensor attend(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask, KVCache* cache,
                    int64_t layer);
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaOptions& options);
  at::Tensor forward(const at::Tensor& x);
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     KVCache* cache, int64_t layer);
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// "model." of the checkpoint: embeddings, layers, final norm.
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaOptions& options);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

// Weights are allocated but not initialised: they come from a checkpoint (llama_loader.h), and
// initialising 8B parameters only to overwrite them would take minutes and touch every page.
class LlamaImpl : public torch::nn::Module {
 public:
  explicit LlamaImpl(const LlamaOptions& options);

  // Final-norm hidden states [B, T, hidden]. With a cache, the new keys and values are appended
  // and the cache advances by T.
  at::Tensor hidden_states(const LlamaInput& input, KVCache* cache = nullptr);
  // hidden [B, T, hidden] -> logits [B, T, vocab], or [N, vocab] at the flattened `at` positions.
  at::Tensor logits(const at::Tensor& hidden, const at::Tensor& at = {});
  // logits(hidden_states(input, cache), input.logits_at)
  at::Tensor forward(const LlamaInput& input, KVCache* cache = nullptr);

  const LlamaOptions& options() const { return options_; }
  at::Tensor embed(const at::Tensor& ids);  // [B, T] -> [B, T, hidden]

  // PEFT's trainable_token_indices: rows `ids` of "embed_tokens" or "lm_head" become trainable
  // (trainable_tokens.h), the matrix stays frozen. Refused with tied embeddings.
  void add_trainable_tokens(const std::string& layer, const std::vector<int64_t>& ids,
                            std::optional<c10::ScalarType> dtype = std::nullopt);
  // The trainable rows' parameters (trainable_tokens_delta of each adapted layer).
  std::vector<at::Tensor> trainable_token_parameters() const;

  // Recompute decoder layers 0, k, 2k, ... (k = checkpoint_every) in backward instead of keeping
  // their activations (training without a KV cache only; activation_checkpoint.h).
  bool gradient_checkpointing = false;
  int64_t checkpoint_every = 1;

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings: logits use embed_tokens

 private:
  LlamaOptions options_;
  TrainableTokens embed_rows_{nullptr}, head_rows_{nullptr};  // submodules of embed_tokens / lm_head
  at::Tensor inv_freq_;  // fp32 on the device last used; not a buffer, so not a checkpoint key
};
TORCH_MODULE(Llama);

}  // namespace medvqa
