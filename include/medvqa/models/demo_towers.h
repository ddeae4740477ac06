// The demo's base towers: a small random-init BiomedCLIP-architecture vision tower written as an
// open_clip directory and a small random-init LLaMA-3-shaped decoder written as an HF directory
// with Meta's LLaMA-3 tokenizer, so the demo runs the same loading path as real weights.
#pragma once

#include <cstdint>
#include <string>

namespace medvqa {

struct DemoTowerOptions {
  uint64_t seed = 0;
  std::string tokenizer;  // Meta's tokenizer.model (LICENSE and NOTICE beside it are copied too)
  int64_t vit_width = 64, vit_depth = 2, vit_heads = 4, vit_patch = 32, vit_embed_dim = 64;
  int64_t llm_hidden = 64, llm_layers = 2, llm_heads = 4, llm_kv_heads = 2, llm_intermediate = 128;
};

// Writes <out>/vision (open_clip_config.json + open_clip_model.safetensors) and <out>/llm
// (config.json, generation_config.json, model.safetensors, original/tokenizer.model).
void write_demo_towers(const std::string& out, const DemoTowerOptions& options);

}  // namespace medvqa
