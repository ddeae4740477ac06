// LLaMA checkpoints in, a ready Llama out: HF directories (config.json + safetensors, sharded or
// not, generation_config.json) and Meta original directories (params.json + consolidated.00.pth,
// wq/wk permuted to rotate-half). Strict and zero-copy where dtype and device allow. And the way
// back to an HF directory. Tokenizers are text/'s business.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "medvqa/io/json_reader.h"
#include "medvqa/models/llama.h"

namespace medvqa {

// config.json (classic rope_theta / rope_scaling / torch_dtype or transformers-5 rope_parameters /
// dtype) -> options. Every missing, invalid or contradictory field is reported in one Error.
LlamaOptions llama_options_from_hf_config(const JsonValue& config, const std::string& where);
// params.json -> options; the intermediate size follows multiple_of / ffn_dim_multiplier and
// use_scaled_rope means LLaMA-3.1's llama3 scaling.
LlamaOptions llama_options_from_meta_params(const JsonValue& params, const std::string& where);

// The options of an HF (config.json) or Meta (params.json) directory, reading no weights.
LlamaOptions read_llama_config(const std::string& dir);

struct LoadedLlama {
  Llama model{nullptr};
  std::vector<int64_t> eos_ids;  // 128001, 128009 and generation_config.json's eos_token_id
  std::string format;            // "hf" | "meta"
};

// `dir`: an HF model directory or a Meta original one. Weights already in `dtype` on the CPU
// stay in the file's memory map (no copy); otherwise each tensor is converted on its own.
LoadedLlama load_llama(const std::string& dir, const c10::Device& device, c10::ScalarType dtype);

// config.json for `options` as transformers writes it (torch_dtype named after `dtype`, bos
// 128000, eos_token_id as given: an id or a list of ids).
nlohmann::json hf_config_json(const LlamaOptions& options, c10::ScalarType dtype, const nlohmann::json& eos_token_id);
// An HF directory transformers loads: config.json + model.safetensors in `dtype`. Refuses a
// model with unmerged LoRA adapters (merge them first: the file holds base weights only).
void save_hf_llama(Llama& model, const std::string& dir, c10::ScalarType dtype, const nlohmann::json& eos_token_id);

}  // namespace medvqa
