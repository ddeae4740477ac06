#include "medvqa/run/export.h"

#include <filesystem>

#include "medvqa/config/loader.h"
#include "medvqa/config/model_dir.h"
#include "medvqa/config/run_dir.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/models/llama_loader.h"
#include "medvqa/models/peft_adapter.h"
#include "medvqa/models/registry.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

// The tokenizer (every form load_tokenizer reads, plus what transformers needs beside
// tokenizer.json) and the licence files that must travel with LLaMA weights.
const char* const kLlmCompanions[] = {"original/tokenizer.model", "tokenizer.model", "tokenizer.json",
                                      "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                                      "LICENSE", "NOTICE", "USE_POLICY.md", "original/LICENSE", "original/NOTICE",
                                      "original/USE_POLICY.md"};

void copy_file_to(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to);
}

void write_llm(const ModelConfig& m, const fs::path& out) {
  BuiltModel built = build_model(m);
  auto layers = lora_layers(*built.model->llm);
  for (auto& [name, layer] : layers) layer->merge();
  log_info("export: merged LoRA (r=", built.adapter.lora.r, ", alpha=", built.adapter.lora.alpha, ") into ", layers.size(),
           " layers");
  save_hf_llama(built.model->llm, out.string(), built.dtype, built.eos_ids);
  for (const char* name : kLlmCompanions)
    if (fs::is_regular_file(fs::path(m.llm) / name)) copy_file_to(fs::path(m.llm) / name, out / name);
  if (!fs::exists(out / "generation_config.json")) {
    nlohmann::json generation{{"bos_token_id", 128000}, {"eos_token_id", built.eos_ids}, {"do_sample", false}};
    write_file_atomic((out / "generation_config.json").string(), generation.dump(2) + "\n");
  }
  // A tokenizer given apart from the LLM directory goes where load_tokenizer looks for it.
  if (!m.tokenizer.empty()) {
    const fs::path t(m.tokenizer);
    if (fs::is_directory(t)) {
      for (const char* name : kLlmCompanions)
        if (fs::is_regular_file(t / name) && !fs::exists(out / name)) copy_file_to(t / name, out / name);
    } else {
      const fs::path name = t.extension() == ".json" ? "tokenizer.json" : "original/tokenizer.model";
      fs::remove(out / name);
      copy_file_to(t, out / name);
    }
  }
}

}  // namespace

void export_bundle(const std::string& model_dir, const std::string& out, const std::string& dtype) {
  const Config config = load_model_dir(model_dir);
  ModelConfig m = config.model;
  // Merging and writing happen on the CPU; the weights stay in the model's dtype unless told.
  m.device = "cpu";
  if (!dtype.empty()) m.dtype = dtype;
  const std::string source = find_model_dir(model_dir);
  write_dir_atomic(out, [&](const std::string& temp) {
    const ModelDir dir{temp};
    log_info("export: vision tower ", m.vision);
    fs::copy(m.vision, dir.vision(), fs::copy_options::recursive);
    fs::copy_file(m.projector_weights, dir.projector());
    write_llm(m, dir.llm());

    // The bundle's config names its files relative to itself.
    Config bundle = config;
    bundle.model.vision = dir.vision().filename().string();
    bundle.model.llm = dir.llm().filename().string();
    bundle.model.tokenizer = "";
    bundle.model.projector_weights = dir.projector().filename().string();
    bundle.model.adapter = "";
    bundle.model.lora.r = 0;  // merged into llm/
    bundle.data.root = bundle.data.manifest = "";
    bundle.train.out_dir = bundle.train.resume = "";
    const std::string header = "# medvqa export --bundle of " + fs::absolute(source).lexically_normal().string() +
                               (config.model.adapter.empty() ? "" : " (LoRA merged into llm/)") +
                               ". Paths are relative to this folder.\n";
    write_file_atomic(dir.config().string(), header + to_yaml(bundle));
  });
  log_info("export: bundle ", out, " (ask --model ", out, ", or model.from=", out, " in an eval config)");
}

void export_adapter(const std::string& model_dir, const std::string& out) {
  const Config config = load_model_dir(model_dir);
  const std::string& adapter = config.model.adapter;
  MEDVQA_CHECK(!adapter.empty(), find_model_dir(model_dir),
               ": has no LoRA adapter (a stage-1 run trains the projector only, a bundle has it merged); use --bundle");
  read_peft_config(adapter);  // refuse to copy what PEFT could not load
  write_dir_atomic(out, [&](const std::string& temp) {
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
      fs::copy_file(fs::path(adapter) / name, fs::path(temp) / name);
    fs::copy_file(config.model.projector_weights, ModelDir{temp}.projector());
  });
  log_info("export: PEFT adapter + projector in ", out);
}

}  // namespace medvqa
