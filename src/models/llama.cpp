#include "medvqa/models/llama.h"

#include <cmath>
#include <mutex>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/models/activation_checkpoint.h"
#include "medvqa/models/decoder_linear.h"

namespace medvqa {

namespace {

// A bias-free Linear with an allocated, uninitialised weight [out, in]: constructed at shape
// [0, 1] (so its reset touches nothing), then given its real options and an empty weight.
torch::nn::Linear uninitialised_linear(int64_t in, int64_t out) {
  torch::nn::Linear linear(torch::nn::LinearOptions(1, 0).bias(false));
  linear->options = torch::nn::LinearOptions(in, out).bias(false);
  linear->weight.set_data(torch::empty({out, in}));
  return linear;
}

torch::nn::Embedding uninitialised_embedding(int64_t count, int64_t dim) {
  torch::nn::Embedding embedding(torch::nn::EmbeddingOptions(0, 1));
  embedding->options = torch::nn::EmbeddingOptions(count, dim);
  embedding->weight.set_data(torch::empty({count, dim}));
  return embedding;
}

// Names SDPA's choice for the first training attention of the process: a boolean mask rules out the
// flash kernels, so a right-padded batch should say "causal, no mask" and flash_attention on CUDA.
void log_training_attention_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::optional<at::Tensor>& mask, bool is_causal, double scale, bool gqa) {
  static std::once_flag once;
  std::call_once(once, [&] {
    static const char* const kNames[] = {"math", "flash_attention", "efficient_attention", "cudnn_attention", "overrideable"};
    const int64_t choice = at::_fused_sdp_choice(q, k, v, mask, 0.0, is_causal, scale, gqa);
    log_info("llama: training attention on ", q.device().str(), " (", mask ? "boolean mask" : "causal, no mask", ", ",
             q.size(1), " query / ", k.size(1), " KV heads, ", c10::toString(q.scalar_type()), "): SDPA kernel ",
             choice >= 0 && choice < 5 ? kNames[choice] : "error");
  });
}

// f of each row of x [B, ...] on its own, concatenated, in a decode step (one token per row, x
// [B, 1, ...]) on the CPU; f(x) otherwise. Element-wise kernels with a transcendental function (exp, cos) take
// a scalar path for the tail of a tensor and split it across threads by size, so a row's values
// would depend on how many rows are beside it; row by row, a sequence in a decode batch gets the
// values it gets decoded alone (decode_batch.h).
// Only on the CPU, up to the rows where the linears are row-invariant too (decoder_linear.h).
template <typename F>
at::Tensor row_by_row_when_decoding(const at::Tensor& x, F f) {
  if (x.size(0) == 1 || x.size(1) != 1 || !x.is_cpu() || x.size(0) > kSmallBatchMaxRows) return f(x);
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) rows.push_back(f(x.narrow(0, b, 1)));
  return torch::cat(rows, 0);
}

at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

}  // namespace

at::Tensor rope_inv_freq(const LlamaOptions& o) {
  auto exponents = torch::arange(0, o.head_dim, 2, torch::kInt64).to(torch::kFloat) / static_cast<double>(o.head_dim);
  auto inv_freq = 1.0 / torch::pow(o.rope_theta, exponents);  // [head_dim / 2] fp32
  if (!o.rope_scaling) return inv_freq;
  const RopeScaling& s = *o.rope_scaling;
  // transformers' _compute_llama3_parameters, op for op, so the fp32 rounding matches.
  const double old_ctx = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_ctx / s.low_freq_factor;
  const double high_freq_wavelen = old_ctx / s.high_freq_factor;
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  auto smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  auto medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

at::Tensor causal_padding_mask(const at::Tensor& key_valid, int64_t past) {
  const int64_t S = key_valid.size(1), T = S - past;
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(key_valid.device());
  auto query_slot = torch::arange(past, S, opts).unsqueeze(1);  // [T, 1]
  auto key_slot = torch::arange(0, S, opts).unsqueeze(0);       // [1, S]
  auto causal = key_slot <= query_slot;                         // [T, S]
  auto mask = causal.unsqueeze(0).logical_and(key_valid.to(torch::kBool).unsqueeze(1));  // [B, T, S]
  mask = mask.logical_or((key_slot == query_slot).unsqueeze(0));
  TORCH_INTERNAL_ASSERT(mask.size(1) == T);
  return mask.unsqueeze(1);  // [B, 1, T, S]
}

KVCache::KVCache(const LlamaOptions& o, int64_t batch, int64_t capacity, const at::TensorOptions& tensor_options,
                 bool rows_alone)
    : storage_(std::make_shared<Storage>()), count_(batch) {
  storage_->capacity = capacity;
  storage_->rows_alone = rows_alone;
  storage_->lengths.assign(batch, 0);
  for (int64_t i = 0; i < o.num_hidden_layers; ++i) {
    storage_->keys.push_back(torch::empty({batch, o.num_key_value_heads, capacity, o.head_dim}, tensor_options));
    storage_->values.push_back(torch::empty({batch, o.num_key_value_heads, capacity, o.head_dim}, tensor_options));
  }
}

KVCache::KVCache(std::shared_ptr<Storage> storage, int64_t first, int64_t count)
    : storage_(std::move(storage)), first_(first), count_(count) {}

int64_t KVCache::length(int64_t row) const {
  TORCH_INTERNAL_ASSERT(row >= 0 && row < count_);
  return storage_->lengths[first_ + row];
}

int64_t KVCache::length() const {
  for (int64_t r = 1; r < count_; ++r)
    MEDVQA_CHECK(length(r) == length(0), "llama: the KV cache's rows are at different lengths");
  return count_ == 0 ? 0 : length(0);
}

KVCache KVCache::rows(int64_t first, int64_t count) const {
  TORCH_INTERNAL_ASSERT(first >= 0 && count >= 0 && first + count <= count_);
  return KVCache(storage_, first_ + first, count);
}

std::pair<at::Tensor, at::Tensor> KVCache::write(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  TORCH_INTERNAL_ASSERT(k.size(0) == count_);
  const int64_t past = length(), end = past + k.size(2);
  MEDVQA_CHECK(end <= capacity(), "llama: KV cache full (", end, " > capacity ", capacity(), ")");
  at::Tensor keys = storage_->keys[layer].narrow(0, first_, count_);
  at::Tensor values = storage_->values[layer].narrow(0, first_, count_);
  keys.slice(2, past, end).copy_(k);
  values.slice(2, past, end).copy_(v);
  return {keys.slice(2, 0, end), values.slice(2, 0, end)};
}

void KVCache::advance(int64_t t) {
  for (int64_t r = 0; r < count_; ++r) storage_->lengths[first_ + r] += t;
}

void KVCache::move_row(int64_t from, int64_t to) {
  const int64_t n = length(from);
  for (auto* tensors : {&storage_->keys, &storage_->values})
    for (at::Tensor& t : *tensors) t[first_ + to].slice(1, 0, n).copy_(t[first_ + from].slice(1, 0, n));
  storage_->lengths[first_ + to] = n;
}

void KVCache::clear_row(int64_t row) { storage_->lengths[first_ + row] = 0; }

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  auto h = x.to(torch::kFloat);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
  return weight * h.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaOptions& o)
    : heads_(o.num_attention_heads), kv_heads_(o.num_key_value_heads), head_dim_(o.head_dim) {
  q_proj = register_module("q_proj", LoraLinear(o.hidden_size, heads_ * head_dim_));
  k_proj = register_module("k_proj", LoraLinear(o.hidden_size, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", LoraLinear(o.hidden_size, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, o.hidden_size));
}

at::Tensor LlamaAttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                       const at::Tensor& mask, KVCache* cache, int64_t layer) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, heads_, head_dim_}).transpose(1, 2);     // [B, H, T, D]
  auto k = k_proj(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);  // [B, H_kv, T, D]
  auto v = v_proj(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B, 1, T, D]
  q = q * c + rotate_half(q) * s;
  k = k * c + rotate_half(k) * s;
  if (!cache || !cache->rows_alone() || B == 1) return o_proj(attend(q, k, v, mask, cache, layer));
  // Continuous batching: each row attends to its own keys, at its own length, as it would alone.
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    KVCache row = cache->rows(b, 1);
    rows.push_back(attend(q.narrow(0, b, 1), k.narrow(0, b, 1), v.narrow(0, b, 1), mask, &row, layer));
  }
  return o_proj(torch::cat(rows, 0));
}

at::Tensor LlamaAttentionImpl::attend(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask,
                                      KVCache* cache, int64_t layer) {
  const int64_t B = q.size(0), T = q.size(2);
  if (cache) std::tie(k, v) = cache->write(layer, k, v);  // [B, H_kv, past + T, D]
  // Without a mask, is_causal is right only when the queries start at key 0 (no cache yet);
  // a single query past the cache attends to every key.
  const bool is_causal = !mask.defined() && T > 1;
  TORCH_INTERNAL_ASSERT(!is_causal || k.size(2) == T, "llama: multi-token step on a cache needs a mask");
  const auto optional_mask = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;  // [B, 1, T, S]
  const double scale = std::pow(static_cast<double>(head_dim_), -0.5);
  if (T == 1 && heads_ != kv_heads_) {
    // One query per head (decoding): the heads sharing a KV head become that head's query rows, so
    // attention reads the cache as it is instead of a copy expanded to every head.
    auto grouped = q.reshape({B, kv_heads_, heads_ / kv_heads_, head_dim_});
    auto out = at::scaled_dot_product_attention(grouped, k, v, optional_mask, 0.0, false, scale);
    return out.reshape({B, 1, heads_ * head_dim_});
  }
  if (is_training() && at::GradMode::is_enabled())
    log_training_attention_kernel(q, k, v, optional_mask, is_causal, scale, heads_ != kv_heads_);
  auto out = at::scaled_dot_product_attention(q, k, v, optional_mask, 0.0, is_causal, scale,
                                              heads_ != kv_heads_);  // [B, H, T, D]
  return out.transpose(1, 2).reshape({B, T, heads_ * head_dim_});
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaOptions& o) {
  gate_proj = register_module("gate_proj", LoraLinear(o.hidden_size, o.intermediate_size));
  up_proj = register_module("up_proj", LoraLinear(o.hidden_size, o.intermediate_size));
  down_proj = register_module("down_proj", LoraLinear(o.intermediate_size, o.hidden_size));
}

at::Tensor LlamaMLPImpl::forward(const at::Tensor& x) {
  const at::Tensor gate = row_by_row_when_decoding(gate_proj(x), [](const at::Tensor& g) { return torch::silu(g); });
  return down_proj(gate * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaOptions& o) {
  self_attn = register_module("self_attn", LlamaAttention(o));
  mlp = register_module("mlp", LlamaMLP(o));
  input_layernorm = register_module("input_layernorm", RMSNorm(o.hidden_size, o.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(o.hidden_size, o.rms_norm_eps));
}

at::Tensor LlamaDecoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                          const at::Tensor& mask, KVCache* cache, int64_t layer) {
  auto h = x + self_attn(input_layernorm(x), cos, sin, mask, cache, layer);
  return h + mlp(post_attention_layernorm(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaOptions& o) {
  embed_tokens = register_module("embed_tokens", uninitialised_embedding(o.vocab_size, o.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(o));
  norm = register_module("norm", RMSNorm(o.hidden_size, o.rms_norm_eps));
}

LlamaImpl::LlamaImpl(const LlamaOptions& options) : options_(options), inv_freq_(rope_inv_freq(options)) {
  MEDVQA_CHECK(options.num_key_value_heads > 0 && options.num_attention_heads % options.num_key_value_heads == 0,
               "llama: num_attention_heads ", options.num_attention_heads, " is not a multiple of num_key_value_heads ",
               options.num_key_value_heads);
  MEDVQA_CHECK(options.head_dim > 0 && options.head_dim % 2 == 0, "llama: head_dim ", options.head_dim,
               " must be even for rotary embeddings");
  model = register_module("model", LlamaModel(options));
  if (!options.tie_word_embeddings)
    lm_head = register_module("lm_head", uninitialised_linear(options.hidden_size, options.vocab_size));
}

at::Tensor LlamaImpl::hidden_states(const LlamaInput& in, KVCache* cache) {
  MEDVQA_CHECK(in.input_ids.defined() != in.inputs_embeds.defined(), "llama: give exactly one of input_ids and inputs_embeds");
  auto x = in.inputs_embeds.defined() ? in.inputs_embeds : embed(in.input_ids);  // [B, T, hidden]
  const int64_t B = x.size(0), T = x.size(1);
  MEDVQA_CHECK(!cache || cache->batch() == B, "llama: ", B, " rows of input for a KV cache of ", cache ? cache->batch() : 0);
  // Rows of a cache whose rows attend alone (continuous batching) take one token each at positions
  // the caller gives: no shared past, no padding mask.
  const bool alone = cache && cache->rows_alone() && B > 1;
  MEDVQA_CHECK(!alone || (T == 1 && in.position_ids.defined() && !in.attention_mask.defined()),
               "llama: a KV cache whose rows attend alone takes one token per row, with position_ids and no "
               "attention_mask");
  const int64_t past = cache && !alone ? cache->length() : 0;

  auto positions = in.position_ids.defined()
                       ? in.position_ids
                       : torch::arange(past, past + T, torch::TensorOptions().dtype(torch::kInt64).device(x.device()))
                             .unsqueeze(0)
                             .expand({B, T});
  if (inv_freq_.device() != x.device()) inv_freq_ = inv_freq_.to(x.device());
  auto freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq_;  // [B, T, head_dim / 2] fp32
  auto angles = torch::cat({freqs, freqs}, -1);                         // [B, T, head_dim]
  auto cos = row_by_row_when_decoding(angles, [&](const at::Tensor& a) { return a.cos().to(x.scalar_type()); });
  auto sin = row_by_row_when_decoding(angles, [&](const at::Tensor& a) { return a.sin().to(x.scalar_type()); });

  at::Tensor mask;
  if (in.attention_mask.defined()) {
    MEDVQA_CHECK(in.attention_mask.size(0) == B && in.attention_mask.size(1) == past + T, "llama: attention_mask is ",
                 in.attention_mask.sizes(), ", expected [", B, ", ", past + T, "]");
    mask = causal_padding_mask(in.attention_mask.to(x.device()), past);
  } else if (past > 0 && T > 1) {
    mask = causal_padding_mask(torch::ones({B, past + T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())),
                               past);
  }
  const bool recompute = gradient_checkpointing && is_training() && !cache && at::GradMode::is_enabled();
  for (size_t i = 0; i < model->layers->size(); ++i) {
    auto* layer = model->layers[i]->as<LlamaDecoderLayer>();
    const auto index = static_cast<int64_t>(i);
    if (!recompute || index % checkpoint_every != 0) {
      x = layer->forward(x, cos, sin, mask, cache, index);
      continue;
    }
    std::vector<at::Tensor> trainable;
    for (const auto& p : layer->parameters())
      if (p.requires_grad()) trainable.push_back(p);
    x = checkpointed([=](const at::Tensor& h) { return layer->forward(h, cos, sin, mask, nullptr, index); }, x, trainable);
  }
  if (cache) cache->advance(T);
  return model->norm(x);
}

at::Tensor LlamaImpl::logits(const at::Tensor& hidden, const at::Tensor& at) {
  auto h = at.defined() ? hidden.reshape({-1, hidden.size(-1)}).index_select(0, at.to(hidden.device())) : hidden;
  at::Tensor out = decoder_linear(h, lm_head ? lm_head->weight : model->embed_tokens->weight);
  return head_rows_ ? head_rows_->logits(h, out) : out;
}

at::Tensor LlamaImpl::embed(const at::Tensor& ids) {
  at::Tensor out = model->embed_tokens(ids);
  return embed_rows_ ? embed_rows_->embed(ids, out) : out;
}

std::vector<at::Tensor> LlamaImpl::trainable_token_parameters() const {
  std::vector<at::Tensor> out;
  for (const TrainableTokens& rows : {embed_rows_, head_rows_})
    if (rows) out.push_back(rows->trainable_tokens_delta);
  return out;
}

void LlamaImpl::add_trainable_tokens(const std::string& layer, const std::vector<int64_t>& ids,
                                     std::optional<c10::ScalarType> dtype) {
  MEDVQA_CHECK(!options_.tie_word_embeddings, "llama: trainable token rows with tied input and output embeddings ",
               "(tie_word_embeddings) are not supported: a row would be one parameter seen through two layers");
  MEDVQA_CHECK(layer == "embed_tokens" || layer == "lm_head", "llama: trainable tokens on '", layer,
               "': expected embed_tokens or lm_head");
  TrainableTokens& rows = layer == "embed_tokens" ? embed_rows_ : head_rows_;
  MEDVQA_CHECK(!rows, "llama: ", layer, " already has trainable token rows");
  torch::nn::Module& base = layer == "embed_tokens" ? static_cast<torch::nn::Module&>(*model->embed_tokens) : *lm_head;
  rows = base.register_module("token_adapter", TrainableTokens(base.named_parameters(false)["weight"], ids, dtype));
}

at::Tensor LlamaImpl::forward(const LlamaInput& input, KVCache* cache) {
  return logits(hidden_states(input, cache), input.logits_at);
}

}  // namespace medvqa
