#include "medvqa/run/estimate.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "medvqa/core/error.h"
#include "medvqa/models/llama_loader.h"
#include "medvqa/models/vit.h"

namespace medvqa {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr int64_t kChatSpecialTokens = 4;  // llama3_chat_special_ids: bos, start/end header, eot

int64_t dtype_bytes(const std::string& dtype) { return dtype == "fp32" ? 4 : 2; }

int64_t linear_params(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }

// Input and output widths of the seven LoRA-capable linears of one decoder layer.
std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> layer_linears(const LlamaOptions& o) {
  const int64_t q = o.num_attention_heads * o.head_dim, kv = o.num_key_value_heads * o.head_dim;
  return {{"q_proj", {o.hidden_size, q}},
          {"k_proj", {o.hidden_size, kv}},
          {"v_proj", {o.hidden_size, kv}},
          {"o_proj", {q, o.hidden_size}},
          {"gate_proj", {o.hidden_size, o.intermediate_size}},
          {"up_proj", {o.hidden_size, o.intermediate_size}},
          {"down_proj", {o.intermediate_size, o.hidden_size}}};
}

bool targeted(const LoraConfig& lora, const std::string& name) {
  return std::find(lora.targets.begin(), lora.targets.end(), name) != lora.targets.end();
}

// Bytes autograd keeps per token for one LoRA decoder layer (a = compute dtype bytes):
// each RMSNorm its fp32 upcast (4H) and its output (aH); SDPA q, k, v and its output; the
// reshaped attention output (o_proj input); the MLP's gate, up, silu(gate) and product (4aI);
// per LoRA target its A output (ar) and, with dropout, the dropped input (a) and its mask (1).
double layer_activation_bytes(const LlamaOptions& o, const LoraConfig& lora, bool lora_on, int64_t a) {
  const int64_t H = o.hidden_size, I = o.intermediate_size;
  const int64_t q = o.num_attention_heads * o.head_dim, kv = o.num_key_value_heads * o.head_dim;
  double bytes = 2.0 * (4 * H + a * H) + a * (q + 2 * kv + q + q) + 4.0 * a * I;
  if (lora_on)
    for (const auto& [name, io] : layer_linears(o)) {
      if (!targeted(lora, name)) continue;
      bytes += static_cast<double>(a * lora.r);
      if (lora.dropout > 0) bytes += static_cast<double>((a + 1) * io.first);
    }
  return bytes;
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", bytes / kGiB);
  return buf;
}

std::string count(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

}  // namespace

int64_t vit_parameter_count(const VitOptions& o) {
  const int64_t w = o.width;
  const int64_t block = 2 * 2 * w + linear_params(w, 3 * w, true) + linear_params(w, w, true) +
                        linear_params(w, o.mlp_dim, true) + linear_params(o.mlp_dim, w, true);
  const int64_t patch = 3 * o.patch_size * o.patch_size * w + w;
  return patch + w /* cls */ + o.num_tokens() * w + o.depth * block + 2 * w + linear_params(w, o.embed_dim, o.proj_bias);
}

int64_t llama_parameter_count(const LlamaOptions& o) {
  int64_t layer = 2 * o.hidden_size;  // the two RMSNorms
  for (const auto& [name, io] : layer_linears(o)) layer += io.first * io.second;
  const int64_t embed = o.vocab_size * o.hidden_size;
  return embed + o.num_hidden_layers * layer + o.hidden_size + (o.tie_word_embeddings ? 0 : embed);
}

ParameterCounts count_parameters(const ModelConfig& m, Stage stage, const VitOptions& vit,
                                 const LlamaOptions& llm) {
  ParameterCounts c;
  c.vision = vit_parameter_count(vit);
  c.llm = llama_parameter_count(llm);
  const int64_t in = m.feature_select == "pooled" ? vit.embed_dim : vit.width, H = llm.hidden_size;
  c.projector = linear_params(in, H, true) + (m.projector == "mlp2x_gelu" ? linear_params(H, H, true) : 0);
  if (stage == Stage::lora && m.lora.r > 0) {
    for (const auto& [name, io] : layer_linears(llm))
      if (targeted(m.lora, name)) c.lora += m.lora.r * (io.first + io.second) * llm.num_hidden_layers;
    if (m.train_special_rows) c.token_rows = 2 * kChatSpecialTokens * H;
  }
  c.trainable = c.projector + c.lora + c.token_rows;
  return c;
}

double MemoryEstimate::total(bool with_checkpointing) const {
  return weights + gradients + optimizer + allreduce + nccl + autocast_copies + backward + head + overhead +
         (with_checkpointing ? activations_checkpointed : activations);
}

MemoryEstimate estimate_memory(const Config& config, const EstimateOptions& options) {
  MEDVQA_CHECK(options.gpus >= 1, "estimate: --gpus must be at least 1, got ", options.gpus);
  const ModelConfig& m = config.model;
  const TrainConfig& t = config.train;
  MEDVQA_CHECK(!m.vision.empty() && !m.llm.empty(), "estimate: model.vision and model.llm must name the model directories");
  const VitOptions vit = read_vit_config(m.vision);
  const LlamaOptions llm = read_llama_config(m.llm);
  MemoryEstimate e;
  e.options = options;
  e.params = count_parameters(m, t.stage, vit, llm);
  // A per-GPU estimate: "auto" resolves as it would on CUDA.
  e.weight_dtype = m.dtype == "auto" ? "bf16" : m.dtype;
  const bool autocast = t.autocast != "none";
  e.trainable_dtype = autocast ? "fp32" : e.weight_dtype;
  e.compute_dtype = autocast ? "bf16" : e.weight_dtype;
  const int64_t w = dtype_bytes(e.weight_dtype), tw = dtype_bytes(e.trainable_dtype), a = dtype_bytes(e.compute_dtype);
  const auto frozen = static_cast<double>(e.params.total() - e.params.trainable);
  const auto trainable = static_cast<double>(e.params.trainable);
  e.weights = frozen * w + trainable * tw;
  e.gradients = trainable * tw;
  e.optimizer = 2 * trainable * tw;  // AdamW exp_avg and exp_avg_sq, in the parameter's dtype
  e.allreduce = options.gpus > 1 ? trainable * tw : 0;  // flattened gradient buckets
  e.nccl = options.gpus > 1 ? kNcclBufferBytes : 0;
  // Autocast casts each fp32 trainable weight once per forward and linear keeps the copy for backward.
  e.autocast_copies = autocast && e.trainable_dtype != e.compute_dtype ? trainable * a : 0;
  e.tokens = t.batch_size * config.data.max_seq_len;
  const auto tokens = static_cast<double>(e.tokens);
  // Decoder layers: everything kept (off), or (on) each recomputed layer (0, k, 2k, ...) keeps only
  // its input, the others everything, plus the one layer being recomputed. Around them: the
  // embeddings and the final norm.
  const bool lora_on = t.stage == Stage::lora && m.lora.r > 0;
  const double layer = layer_activation_bytes(llm, m.lora, lora_on, a);
  const double outside = tokens * (2.0 * a * llm.hidden_size + 4.0 * llm.hidden_size);
  const int64_t L = llm.num_hidden_layers, recomputed = (L + m.checkpoint_every - 1) / m.checkpoint_every;
  e.activations = outside + tokens * layer * static_cast<double>(L);
  e.activations_checkpointed = outside + tokens * (static_cast<double>(a) * llm.hidden_size * static_cast<double>(recomputed) +
                                                   layer * static_cast<double>(L - recomputed) + layer);
  // Backward through one layer holds the gradients of its output and input, of the MLP's gate and
  // up projections and of q, k, v at once.
  const int64_t q = llm.num_attention_heads * llm.head_dim, kv = llm.num_key_value_heads * llm.head_dim;
  e.backward = tokens * a * static_cast<double>(2 * llm.hidden_size + 2 * llm.intermediate_size + q + 2 * kv);
  // LM head at the label positions: logits in the compute dtype, their fp32 copy, and the fp32
  // softmax gradient in backward.
  e.head = static_cast<double>(t.batch_size * options.label_tokens) * llm.vocab_size * (a + 4 + 4);
  e.overhead = options.overhead_gib * kGiB;
  e.checkpointing = m.gradient_checkpointing;
  return e;
}

nlohmann::json estimate_json(const MemoryEstimate& e, const Config& config) {
  auto memory = [&](bool ckpt) {
    return nlohmann::json{{"weights", e.weights},       {"gradients", e.gradients}, {"optimizer", e.optimizer},
                          {"allreduce", e.allreduce},   {"nccl_buffers", e.nccl}, {"autocast_copies", e.autocast_copies},
                          {"backward_layer", e.backward}, {"activations", ckpt ? e.activations_checkpointed : e.activations},
                          {"lm_head", e.head},          {"overhead", e.overhead},   {"total", e.total(ckpt)},
                          {"fits", e.total(ckpt) <= e.options.gpu_memory_gib * kGiB}};
  };
  return {{"stage", config::name_of(config.train.stage)},
          {"parameters",
           {{"vision", e.params.vision}, {"projector", e.params.projector}, {"llm", e.params.llm}, {"lora", e.params.lora},
            {"token_rows", e.params.token_rows}, {"total", e.params.total()}, {"trainable", e.params.trainable}}},
          {"dtypes", {{"weights", e.weight_dtype}, {"trainable", e.trainable_dtype}, {"compute", e.compute_dtype}}},
          {"gpus", e.options.gpus},
          {"gpu_memory_bytes", e.options.gpu_memory_gib * kGiB},
          {"tokens_per_micro_batch", e.tokens},
          {"label_tokens_per_sample", e.options.label_tokens},
          {"global_batch", config.train.batch_size * config.train.grad_accum * e.options.gpus},
          {"gradient_checkpointing", e.checkpointing},
          {"checkpoint_every", config.model.checkpoint_every},
          {"bytes_per_gpu", {{"checkpointing_off", memory(false)}, {"checkpointing_on", memory(true)}}}};
}

std::string estimate_table(const MemoryEstimate& e, const Config& config) {
  std::ostringstream os;
  char line[160];
  auto row = [&](const char* name, int64_t total, int64_t trainable) {
    std::snprintf(line, sizeof line, "  %-32s %8s %9s\n", name, count(total).c_str(), count(trainable).c_str());
    os << line;
  };
  std::snprintf(line, sizeof line, "%-34s %8s %9s\n", "parameters", "total", "trainable");
  os << line;
  row("vision tower", e.params.vision, 0);
  row("projector", e.params.projector, e.params.projector);
  row("LLM", e.params.llm, 0);
  if (e.params.lora) row("LoRA adapters", e.params.lora, e.params.lora);
  if (e.params.token_rows) row("special-token rows", e.params.token_rows, e.params.token_rows);
  row("total", e.params.total(), e.params.trainable);
  std::snprintf(line, sizeof line, "\n%-34s %8s %8s\n", "per-GPU memory (GiB)", "ckpt off", "ckpt on");
  os << line;
  auto mem = [&](const char* name, double off, double on) {
    std::snprintf(line, sizeof line, "  %-32s %8s %8s\n", name, gib(off).c_str(), gib(on).c_str());
    os << line;
  };
  mem(("weights (" + e.weight_dtype + ", trainable " + e.trainable_dtype + ")").c_str(), e.weights, e.weights);
  mem("gradients", e.gradients, e.gradients);
  mem("optimizer (AdamW, 2 states)", e.optimizer, e.optimizer);
  if (e.options.gpus > 1) mem("all-reduce buckets", e.allreduce, e.allreduce);
  if (e.options.gpus > 1) mem("NCCL buffers (assumed)", e.nccl, e.nccl);
  if (e.autocast_copies > 0)
    mem(("trainable " + e.compute_dtype + " copies (autocast)").c_str(), e.autocast_copies, e.autocast_copies);
  mem(("activations (" + e.compute_dtype + ")").c_str(), e.activations, e.activations_checkpointed);
  mem("backward of one layer", e.backward, e.backward);
  mem("LM head at label tokens", e.head, e.head);
  mem("runtime overhead (assumed)", e.overhead, e.overhead);
  mem("total", e.total(false), e.total(true));
  const bool fits = e.total(e.checkpointing) <= e.options.gpu_memory_gib * kGiB;
  std::snprintf(line, sizeof line, "%g", e.options.gpu_memory_gib);
  os << "\nper GPU: micro-batch " << config.train.batch_size << " x " << config.data.max_seq_len << " tokens, "
     << e.options.label_tokens << " label tokens per sample; global batch "
     << config.train.batch_size * config.train.grad_accum * e.options.gpus << " (" << e.options.gpus << " GPU(s) x "
     << config.train.batch_size << " x accumulation " << config.train.grad_accum << ")\n"
     << "with model.gradient_checkpointing=" << (e.checkpointing ? "true" : "false")
     << (e.checkpointing && config.model.checkpoint_every > 1 ? " (every " + std::to_string(config.model.checkpoint_every) + " layers)" : "")
     << ": "
     << gib(e.total(e.checkpointing)) << " GiB per GPU -> " << (fits ? "fits" : "does NOT fit") << " " << e.options.gpus
     << " x " << line << " GiB\n";
  return os.str();
}

}  // namespace medvqa
