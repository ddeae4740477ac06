#include "medvqa/models/peft_adapter.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
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
  std::string path = (fs::path(dir) / "adapter_config.json").string();
  std::ifstream in(path);
  MEDVQA_CHECK(in, path, ": cannot open (not a PEFT adapter directory?)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    MEDVQA_FAIL(path, ": invalid JSON: ", e.what());
  }
  MEDVQA_CHECK(j.value("peft_type", "") == "LORA", path, ": expected \"peft_type\": \"LORA\", got ", j.value("peft_type", json()).dump());
  AdapterConfig c;
  try {
    c.lora.r = j.at("r").get<int64_t>();
    c.lora.alpha = j.at("lora_alpha").get<double>();
    c.lora.dropout = j.value("lora_dropout", 0.0);
    const json& t = j.at("target_modules");
    c.targets = t.is_string() ? std::vector<std::string>{t.get<std::string>()} : t.get<std::vector<std::string>>();
    c.base_model = j.value("base_model_name_or_path", json("")).is_string() ? j.value("base_model_name_or_path", "") : "";
    // PEFT: a list means the input embedding; a map names the layers.
    const json& tokens = j.value("trainable_token_indices", json());
    if (tokens.is_array()) c.trainable_tokens["embed_tokens"] = tokens.get<std::vector<int64_t>>();
    if (tokens.is_object()) c.trainable_tokens = tokens.get<std::map<std::string, std::vector<int64_t>>>();
    MEDVQA_CHECK(tokens.is_null() || tokens.is_array() || tokens.is_object(), path,
                 ": trainable_token_indices: expected a list of token ids or a map of layer name to ids, got ", tokens.dump());
  } catch (const json::exception& e) {
    MEDVQA_FAIL(path, ": expected r, lora_alpha, target_modules and (optional) trainable_token_indices: ", e.what());
  }
  MEDVQA_CHECK(c.lora.r > 0, path, ": r must be positive, got ", c.lora.r);
  // PEFT writes {} when every layer has r and lora_alpha; per-layer values would be silently wrong.
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    const json& pattern = j.value(key, json());
    MEDVQA_CHECK(pattern.is_null() || (pattern.is_object() && pattern.empty()), path, ": ", key, ": expected {} (one r and ",
                 "lora_alpha for every layer), found ", pattern.dump(), ": per-layer ranks and alphas are not supported");
  }
  MEDVQA_CHECK(!j.value("use_dora", false) && !j.value("use_rslora", false) && j.value("bias", "none") == "none", path,
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
