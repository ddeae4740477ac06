#include "medvqa/models/peft_adapter.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/state_dict.h"
#include "medvqa/io/tensor_store.h"
#include "medvqa/models/trainable_tokens.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
constexpr const char* kPrefix = "base_model.model.";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<std::pair<std::string, LoraLinear>> lora_layers(torch::nn::Module& model) {
  std::vector<std::pair<std::string, LoraLinear>> out;
  for (const auto& item : model.named_modules("", false)) {
    auto layer = std::dynamic_pointer_cast<LoraLinearImpl>(item.value());
    if (layer && layer->has_adapter()) out.emplace_back(item.key(), LoraLinear(layer));
  }
  return out;
}

int add_lora(torch::nn::Module& model, const AdapterConfig& config) {
  int n = 0;
  for (const auto& item : model.named_modules("", false)) {
    auto layer = std::dynamic_pointer_cast<LoraLinearImpl>(item.value());
    if (!layer) continue;
    for (const auto& t : config.targets)
      if (ends_with(item.key(), "." + t)) {
        layer->add_adapter(config.lora);
        ++n;
        break;
      }
  }
  MEDVQA_CHECK(config.targets.empty() || n > 0, "lora: no linear layer matches the targets");
  return n;
}

void save_peft_adapter(torch::nn::Module& model, const AdapterConfig& config, const std::string& dir) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, layer] : lora_layers(model)) {
    tensors.emplace_back(kPrefix + name + ".lora_A.weight", layer->lora_A->weight);
    tensors.emplace_back(kPrefix + name + ".lora_B.weight", layer->lora_B->weight);
  }
  for (const auto& item : model.named_modules("", false))
    if (auto rows = std::dynamic_pointer_cast<TrainableTokensImpl>(item.value()))
      tensors.emplace_back(kPrefix + item.key() + ".trainable_tokens_delta", rows->trainable_tokens_delta);
  MEDVQA_CHECK(!tensors.empty(), dir, ": the model has no LoRA adapters to save");
  json cfg{{"peft_type", "LORA"},
           {"task_type", "CAUSAL_LM"},
           {"r", config.lora.r},
           {"lora_alpha", config.lora.alpha},
           {"lora_dropout", config.lora.dropout},
           {"target_modules", config.targets},
           {"base_model_name_or_path", config.base_model},
           {"bias", "none"},
           {"fan_in_fan_out", false},
           {"inference_mode", true},
           {"init_lora_weights", true},
           {"modules_to_save", nullptr},
           {"use_rslora", false},
           {"use_dora", false}};
  if (!config.trainable_tokens.empty()) cfg["trainable_token_indices"] = config.trainable_tokens;
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), cfg.dump(2) + "\n");
}

AdapterConfig read_peft_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "adapter_config.json").string();
  MEDVQA_CHECK(fs::is_regular_file(path), path, ": cannot open (not a PEFT adapter directory?)");
  const JsonValue j = read_json_file(path);
  const JsonObject o(j, path);
  const std::string type = o.string("peft_type", Presence::kOptional).value_or("");
  if (type != "LORA") o.fail("peft_type", "expected \"LORA\", found \"" + type + "\"");
  AdapterConfig c;
  c.lora.r = *o.positive_int("r");
  c.lora.alpha = *o.positive_number("lora_alpha");
  c.lora.dropout = o.non_negative_number("lora_dropout", Presence::kOptional).value_or(0.0);
  // PEFT writes one module name as a string, several as a list.
  const JsonValue* targets = o.find("target_modules");
  c.targets = targets && targets->is_string() ? std::vector<std::string>{targets->get<std::string>()} : *o.strings("target_modules");
  c.base_model = o.string("base_model_name_or_path", Presence::kOptional).value_or("");
  // PEFT: a list means the input embedding; a map names the layers.
  if (const JsonValue* tokens = o.find("trainable_token_indices")) {
    auto ids = [&](const JsonValue& list) {
      std::vector<int64_t> out;
      if (!list.is_array()) o.fail("trainable_token_indices", "expected a list of token ids, found " + list.dump());
      for (const auto& id : list) {
        if (!id.is_number_integer()) o.fail("trainable_token_indices", "expected integer token ids, found " + id.dump());
        out.push_back(id.get<int64_t>());
      }
      return out;
    };
    if (tokens->is_array()) c.trainable_tokens["embed_tokens"] = ids(*tokens);
    else if (tokens->is_object())
      for (const auto& [layer, list] : tokens->items()) c.trainable_tokens[layer] = ids(list);
    else
      o.fail("trainable_token_indices", "expected a list of token ids or a map of layer name to ids, found " + tokens->dump());
  }
  // PEFT writes {} when every layer has r and lora_alpha; per-layer values would be silently wrong.
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    if (const JsonValue* pattern = o.find(key); pattern && !(pattern->is_object() && pattern->empty()))
      o.fail(key, "expected {} (one r and lora_alpha for every layer), found " + pattern->dump() +
                      ": per-layer ranks and alphas are not supported");
  const bool dora = o.boolean("use_dora", Presence::kOptional).value_or(false);
  const bool rslora = o.boolean("use_rslora", Presence::kOptional).value_or(false);
  MEDVQA_CHECK(!dora && !rslora && o.string("bias", Presence::kOptional).value_or("none") == "none", path,
               ": DoRA, rsLoRA and trained biases are not supported");
  return c;
}

void load_peft_adapter(torch::nn::Module& model, const std::string& dir) {
  read_peft_config(dir);
  TensorStore store = TensorStore::open((fs::path(dir) / "adapter_model.safetensors").string());
  LoadOptions options;
  options.prefix = kPrefix;
  options.select = [](const std::string& name) {
    return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos ||
           ends_with(name, ".trainable_tokens_delta");
  };
  load_state_dict(model, store, options);
}

AdapterConfig attach_peft_adapter(LlamaImpl& llm, const std::string& dir, std::optional<c10::ScalarType> dtype) {
  AdapterConfig config = read_peft_config(dir);
  config.lora.dtype = dtype;
  add_lora(llm, config);
  for (const auto& [layer, ids] : config.trainable_tokens) llm.add_trainable_tokens(layer, ids, dtype);
  load_peft_adapter(llm, dir);
  return config;
}

}  // namespace medvqa
