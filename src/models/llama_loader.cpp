#include "medvqa/models/llama_loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/state_dict.h"
#include "medvqa/io/tensor_store.h"
#include "medvqa/models/peft_adapter.h"

namespace medvqa {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One description of rotary embeddings: the classic rope_theta + rope_scaling pair or
// transformers 5's rope_parameters block.
struct Rope {
  std::optional<double> theta;
  std::optional<RopeScaling> scaling;
};

std::optional<RopeScaling> parse_scaling(const JsonObject& f) {
  const char* type_key = f.has("rope_type") ? "rope_type" : "type";  // "type": the name before transformers 4.45
  auto type = f.string(type_key, Presence::kOptional);
  if (!type || *type == "default") return std::nullopt;
  if (*type != "llama3") {
    f.fail(type_key, "\"" + *type + "\" is not supported (default or llama3)");
    return std::nullopt;
  }
  RopeScaling s;
  auto factor = f.positive_number("factor");
  auto low = f.positive_number("low_freq_factor");
  auto high = f.positive_number("high_freq_factor");
  auto ctx = f.positive_int("original_max_position_embeddings");
  if (!factor || !low || !high || !ctx) return std::nullopt;
  if (!(*high > *low)) f.fail("high_freq_factor", "must exceed low_freq_factor");
  s.factor = *factor;
  s.low_freq_factor = *low;
  s.high_freq_factor = *high;
  s.original_max_position_embeddings = *ctx;
  return s;
}

bool same_scaling(const std::optional<RopeScaling>& a, const std::optional<RopeScaling>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->factor == b->factor && a->low_freq_factor == b->low_freq_factor &&
                a->high_freq_factor == b->high_freq_factor &&
                a->original_max_position_embeddings == b->original_max_position_embeddings);
}

std::string number_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// How the tensors of one checkpoint format map onto the module's (HF) names.
struct Layout {
  std::function<std::string(const std::string&)> stored_name;  // HF key -> key in the files
  std::function<bool(const std::string&)> ignored;              // stored keys that may stay unused
  std::function<at::Tensor(const std::string&, const at::Tensor&)> convert;  // HF key, stored tensor
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Strict, like load_state_dict, but binding instead of copying: a stored tensor already in the
// target dtype on the CPU becomes the parameter itself (memory-mapped, copy-on-write), so an 8B
// bf16 checkpoint loads without a second copy of its weights.
void bind_weights(torch::nn::Module& module, const TensorStore& store, const Layout& layout, const c10::Device& device,
                  c10::ScalarType dtype) {
  Problems problems;
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& p : module.named_parameters(true)) targets.emplace_back(p.key(), p.value());
  auto matches = match_tensors(targets, store, layout.stored_name, layout.ignored, problems);
  for (const auto& m : matches)
    if (m.stored->dtype != "F32" && m.stored->dtype != "BF16" && m.stored->dtype != "F16")
      problems.add("tensor '" + m.stored->name + "' in " + m.stored->file + ": expected a floating-point dtype, got " +
                   m.stored->dtype);
  problems.throw_if_any("cannot load " + store.path());
  torch::NoGradGuard no_grad;
  for (auto& m : matches) m.target.set_data(layout.convert(m.local, store.load(m.stored->name)).to(device, dtype));
}

// Meta's wq / wk pair rotary dimensions as (0, 1), (2, 3), ...; HF rotates halves (i, i + d/2).
at::Tensor meta_to_rotate_half(const at::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), dim = w.size(1), head_dim = rows / heads;
  return w.view({heads, head_dim / 2, 2, dim}).transpose(1, 2).reshape({rows, dim});
}

std::string meta_name(std::string name) {
  static const std::vector<std::pair<std::string, std::string>> kRenames = {
      {"model.embed_tokens.", "tok_embeddings."},
      {"model.norm.", "norm."},
      {"lm_head.", "output."},
      {"model.layers.", "layers."},
      {".self_attn.q_proj.", ".attention.wq."},
      {".self_attn.k_proj.", ".attention.wk."},
      {".self_attn.v_proj.", ".attention.wv."},
      {".self_attn.o_proj.", ".attention.wo."},
      {".mlp.gate_proj.", ".feed_forward.w1."},
      {".mlp.down_proj.", ".feed_forward.w2."},
      {".mlp.up_proj.", ".feed_forward.w3."},
      {".input_layernorm.", ".attention_norm."},
      {".post_attention_layernorm.", ".ffn_norm."},
  };
  for (const auto& [from, to] : kRenames)
    if (auto at = name.find(from); at != std::string::npos) name.replace(at, from.size(), to);
  return name;
}

std::vector<int64_t> eos_ids_of(const fs::path& dir) {
  std::vector<int64_t> ids = {128001, 128009};
  const std::string gen = (dir / "generation_config.json").string();
  if (!fs::exists(gen)) return ids;
  const JsonValue config = read_json_file(gen);
  const JsonObject f(config, gen);
  const JsonValue* eos = f.find("eos_token_id");
  if (!eos) return ids;
  for (const JsonValue& v : eos->is_array() ? *eos : JsonValue::array({*eos})) {
    if (!v.is_number_integer()) f.fail("eos_token_id", "expected an integer or a list of them, found " + v.dump());
    if (std::find(ids.begin(), ids.end(), v.get<int64_t>()) == ids.end()) ids.push_back(v.get<int64_t>());
  }
  return ids;
}

}  // namespace

LlamaOptions llama_options_from_hf_config(const JsonValue& config, const std::string& where) {
  Problems problems;
  const JsonObject f(config, where, &problems);
  LlamaOptions o;
  if (auto type = f.string("model_type", Presence::kOptional); type && *type != "llama")
    f.fail("model_type", "\"" + *type + "\" is not \"llama\"");
  if (auto act = f.string("hidden_act", Presence::kOptional); act && *act != "silu")
    f.fail("hidden_act", "\"" + *act + "\" is not supported (silu)");
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (f.boolean(bias, Presence::kOptional).value_or(false)) f.fail(bias, "true is not supported (LLaMA has no biases)");

  auto vocab = f.positive_int("vocab_size");
  auto hidden = f.positive_int("hidden_size");
  auto inter = f.positive_int("intermediate_size");
  auto layers = f.positive_int("num_hidden_layers");
  auto heads = f.positive_int("num_attention_heads");
  auto kv_heads = f.positive_int("num_key_value_heads", Presence::kOptional);
  auto head_dim = f.positive_int("head_dim", Presence::kOptional);
  if (heads && kv_heads && *heads % *kv_heads != 0)
    f.fail("num_attention_heads " + std::to_string(*heads) + " is not a multiple of num_key_value_heads " +
           std::to_string(*kv_heads));
  if (hidden && heads && !head_dim && *hidden % *heads != 0)
    f.fail("hidden_size " + std::to_string(*hidden) + " is not a multiple of num_attention_heads " +
           std::to_string(*heads) + " and no head_dim is given");
  if (head_dim && *head_dim % 2 != 0) f.fail("head_dim", std::to_string(*head_dim) + " must be even");

  Rope classic, current;
  const bool has_classic = f.has("rope_theta") || f.has("rope_scaling");
  classic.theta = f.positive_number("rope_theta", Presence::kOptional);
  if (auto scaling = f.object("rope_scaling", Presence::kOptional)) classic.scaling = parse_scaling(*scaling);
  const bool has_current = f.has("rope_parameters");
  if (auto parameters = f.object("rope_parameters", Presence::kOptional)) {
    current.theta = parameters->positive_number("rope_theta", Presence::kOptional);
    current.scaling = parse_scaling(*parameters);
  }
  if (has_classic && has_current) {
    if (classic.theta && current.theta && *classic.theta != *current.theta)
      f.fail("rope_theta " + number_str(*classic.theta) + " contradicts rope_parameters.rope_theta " +
             number_str(*current.theta));
    if (f.has("rope_scaling") && !same_scaling(classic.scaling, current.scaling))
      f.fail("rope_scaling contradicts rope_parameters");
  }
  if (auto a = f.string("torch_dtype", Presence::kOptional), b = f.string("dtype", Presence::kOptional); a && b && *a != *b)
    f.fail("torch_dtype \"" + *a + "\" contradicts dtype \"" + *b + "\"");

  o.rms_norm_eps = f.positive_number("rms_norm_eps", Presence::kOptional).value_or(1e-6);
  o.max_position_embeddings = f.positive_int("max_position_embeddings", Presence::kOptional).value_or(2048);
  o.tie_word_embeddings = f.boolean("tie_word_embeddings", Presence::kOptional).value_or(false);
  problems.throw_if_any("invalid LLaMA config");

  o.vocab_size = *vocab;
  o.hidden_size = *hidden;
  o.intermediate_size = *inter;
  o.num_hidden_layers = *layers;
  o.num_attention_heads = *heads;
  o.num_key_value_heads = kv_heads.value_or(*heads);
  o.head_dim = head_dim.value_or(*hidden / *heads);
  o.rope_theta = current.theta.value_or(classic.theta.value_or(10000.0));
  o.rope_scaling = has_current ? current.scaling : classic.scaling;
  return o;
}

LlamaOptions llama_options_from_meta_params(const JsonValue& params, const std::string& where) {
  Problems problems;
  const JsonObject f(params, where, &problems);
  auto dim = f.positive_int("dim");
  auto layers = f.positive_int("n_layers");
  auto heads = f.positive_int("n_heads");
  auto kv_heads = f.positive_int("n_kv_heads", Presence::kOptional);
  auto vocab = f.positive_int("vocab_size");
  auto multiple_of = f.positive_int("multiple_of");
  auto ffn_multiplier = f.positive_number("ffn_dim_multiplier", Presence::kOptional);
  auto eps = f.positive_number("norm_eps", Presence::kOptional);
  auto theta = f.positive_number("rope_theta", Presence::kOptional);
  const bool scaled = f.boolean("use_scaled_rope", Presence::kOptional).value_or(false);
  if (heads && kv_heads && *heads % *kv_heads != 0)
    f.fail("n_heads " + std::to_string(*heads) + " is not a multiple of n_kv_heads " + std::to_string(*kv_heads));
  if (dim && heads && (*dim % *heads != 0 || (*dim / *heads) % 2 != 0))
    f.fail("dim " + std::to_string(*dim) + " does not split into " + std::to_string(*heads) + " heads of even size");
  problems.throw_if_any("invalid LLaMA params");

  LlamaOptions o;
  o.vocab_size = *vocab;
  o.hidden_size = *dim;
  // Meta's FeedForward: int(2 * 4 * dim / 3), times ffn_dim_multiplier, rounded up to multiple_of.
  int64_t inter = 2 * (4 * *dim) / 3;
  if (ffn_multiplier) inter = static_cast<int64_t>(*ffn_multiplier * static_cast<double>(inter));
  o.intermediate_size = *multiple_of * ((inter + *multiple_of - 1) / *multiple_of);
  o.num_hidden_layers = *layers;
  o.num_attention_heads = *heads;
  o.num_key_value_heads = kv_heads.value_or(*heads);
  o.head_dim = *dim / *heads;
  o.rms_norm_eps = eps.value_or(1e-5);
  o.rope_theta = theta.value_or(500000.0);
  if (scaled) o.rope_scaling = RopeScaling{};
  o.max_position_embeddings = scaled ? 131072 : 8192;
  o.tie_word_embeddings = false;  // Meta checkpoints always store output.weight
  return o;
}

LlamaOptions read_llama_config(const std::string& dir) {
  const fs::path root(dir);
  if (fs::exists(root / "config.json"))
    return llama_options_from_hf_config(read_json_file((root / "config.json").string()), (root / "config.json").string());
  if (fs::exists(root / "params.json"))
    return llama_options_from_meta_params(read_json_file((root / "params.json").string()), (root / "params.json").string());
  MEDVQA_FAIL(dir, ": neither config.json (HF) nor params.json (Meta) found");
}

LoadedLlama load_llama(const std::string& dir, const c10::Device& device, c10::ScalarType dtype) {
  const fs::path root(dir);
  MEDVQA_CHECK(fs::is_directory(root), dir, ": not a model directory");
  LoadedLlama out;
  LlamaOptions options;
  Layout layout;
  TensorStore store;
  if (fs::exists(root / "config.json")) {
    out.format = "hf";
    options = llama_options_from_hf_config(read_json_file((root / "config.json").string()), (root / "config.json").string());
    store = TensorStore::open(dir);
    const bool tied = options.tie_word_embeddings;
    layout.stored_name = [](const std::string& n) { return n; };
    layout.ignored = [tied](const std::string& n) {
      return ends_with(n, ".rotary_emb.inv_freq") || (tied && n == "lm_head.weight");
    };
    layout.convert = [](const std::string&, const at::Tensor& t) { return t; };
  } else if (fs::exists(root / "params.json")) {
    out.format = "meta";
    options = llama_options_from_meta_params(read_json_file((root / "params.json").string()), (root / "params.json").string());
    MEDVQA_CHECK(fs::exists(root / "consolidated.00.pth"), dir,
                 ": params.json without consolidated.00.pth (only single-file Meta checkpoints are supported)");
    store = TensorStore::open((root / "consolidated.00.pth").string());
    layout.stored_name = meta_name;
    layout.ignored = [](const std::string& n) { return n == "rope.freqs"; };
    const int64_t heads = options.num_attention_heads, kv_heads = options.num_key_value_heads;
    layout.convert = [heads, kv_heads](const std::string& key, const at::Tensor& t) {
      if (ends_with(key, "self_attn.q_proj.weight")) return meta_to_rotate_half(t, heads);
      if (ends_with(key, "self_attn.k_proj.weight")) return meta_to_rotate_half(t, kv_heads);
      return t;
    };
  } else {
    MEDVQA_FAIL(dir, ": neither config.json (HF) nor params.json (Meta) found");
  }
  out.model = Llama(options);
  bind_weights(*out.model, store, layout, device, dtype);
  out.model->eval();
  out.eos_ids = eos_ids_of(root);
  log_info("llama: ", dir, " (", out.format, "): ", options.num_hidden_layers, " layers, hidden ", options.hidden_size,
           ", heads ", options.num_attention_heads, "/", options.num_key_value_heads, ", vocab ", options.vocab_size,
           ", ", dtype_name(dtype), " on ", device.str());
  return out;
}

json hf_config_json(const LlamaOptions& o, c10::ScalarType dtype, const json& eos_token_id) {
  static const std::map<c10::ScalarType, const char*> kNames{
      {c10::kFloat, "float32"}, {c10::kBFloat16, "bfloat16"}, {c10::kHalf, "float16"}};
  MEDVQA_CHECK(kNames.count(dtype), "llama: cannot write a ", dtype_name(dtype), " model (fp32, bf16 or fp16)");
  json scaling = nullptr;
  if (o.rope_scaling)
    scaling = {{"rope_type", "llama3"}, {"factor", o.rope_scaling->factor},
               {"low_freq_factor", o.rope_scaling->low_freq_factor}, {"high_freq_factor", o.rope_scaling->high_freq_factor},
               {"original_max_position_embeddings", o.rope_scaling->original_max_position_embeddings}};
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", o.vocab_size},
          {"hidden_size", o.hidden_size}, {"intermediate_size", o.intermediate_size},
          {"num_hidden_layers", o.num_hidden_layers}, {"num_attention_heads", o.num_attention_heads},
          {"num_key_value_heads", o.num_key_value_heads}, {"head_dim", o.head_dim}, {"hidden_act", "silu"},
          {"rms_norm_eps", o.rms_norm_eps}, {"rope_theta", o.rope_theta}, {"rope_scaling", scaling},
          {"max_position_embeddings", o.max_position_embeddings}, {"tie_word_embeddings", o.tie_word_embeddings},
          {"attention_bias", false}, {"mlp_bias", false}, {"bos_token_id", 128000}, {"eos_token_id", eos_token_id},
          {"torch_dtype", kNames.at(dtype)}};
}

void save_hf_llama(Llama& model, const std::string& dir, c10::ScalarType dtype, const json& eos_token_id) {
  for (const auto& [name, layer] : lora_layers(*model))
    MEDVQA_CHECK(layer->merged(), "llama: ", name, " has an unmerged LoRA adapter; merge it before writing ", dir);
  const json config = hf_config_json(model->options(), dtype, eos_token_id);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : model->named_parameters(true))
    if (p.key().find(".lora_") == std::string::npos) tensors.emplace_back(p.key(), p.value().to(dtype));
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

}  // namespace medvqa
