// LoRA adapters across a model and their files in PEFT's format (adapter_config.json +
// adapter_model.safetensors, keys "base_model.model.<module>.lora_{A,B}.weight" and, for
// trainable token rows, "<module>.token_adapter.trainable_tokens_delta"), so PEFT loads what
// medvqa trains onto transformers' model and the other way round.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "medvqa/models/llama.h"
#include "medvqa/models/lora.h"

namespace medvqa {

struct AdapterConfig {
  LoraOptions lora;
  std::vector<std::string> targets;  // module name suffixes: q_proj, k_proj, ...
  std::string base_model;            // base_model_name_or_path, informational
  // trainable_token_indices: "embed_tokens" / "lm_head" -> token ids whose rows train.
  std::map<std::string, std::vector<int64_t>> trainable_tokens;
};

// Adds an adapter to every LoraLinear whose module name ends in ".<target>"; returns how many.
int add_lora(torch::nn::Module& model, const AdapterConfig& config);
// Every LoraLinear with an adapter, by module name.
std::vector<std::pair<std::string, LoraLinear>> lora_layers(torch::nn::Module& model);

void save_peft_adapter(torch::nn::Module& model, const AdapterConfig& config, const std::string& dir);
AdapterConfig read_peft_config(const std::string& dir);
// Strict: every adapter (and trainable token rows) of the model is in the file with its shape, every
// tensor of the file is used.
void load_peft_adapter(torch::nn::Module& model, const std::string& dir);
// read_peft_config + the adapters and trainable token rows it names + load_peft_adapter. The
// adapter weights are held in `dtype` (default: the base weights'), so an fp32 file loads bit for
// bit into a bf16 model that trains it.
AdapterConfig attach_peft_adapter(LlamaImpl& llm, const std::string& dir, std::optional<c10::ScalarType> dtype = std::nullopt);

}  // namespace medvqa
