// Exports of a trained model directory (config/model_dir.h): a relocatable bundle that `ask` and
// `eval` load anywhere and transformers reads, or the PEFT adapter + projector alone. Both appear
// whole or not at all (write_dir_atomic) and refuse an existing non-empty `out`.
#pragma once

#include <string>

namespace medvqa {

// out/vision (the open_clip directory as loaded), out/projector.safetensors, out/llm (HF LLaMA
// with the LoRA merged into the base weights, generation_config.json, the tokenizer and licence
// files), out/config.yaml (relative paths). dtype: the merged weights' dtype ("" = the model's).
void export_bundle(const std::string& model_dir, const std::string& out, const std::string& dtype);
// out/adapter_config.json + adapter_model.safetensors (PEFT loads `out`) + out/projector.safetensors.
void export_adapter(const std::string& model_dir, const std::string& out);

}  // namespace medvqa
