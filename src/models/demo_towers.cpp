#include "medvqa/models/demo_towers.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/models/llama_loader.h"
#include "medvqa/models/vit.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// HF / timm initialisation: normal(0, 0.02) for matrices, ones for norm weights, zeros for biases;
// except the LM head, at std 0.5: after the final RMSNorm a 64-wide hidden state has norm 8, and
// with 0.02 the largest reachable logit (~1.3) could never single out one token of 128k.
std::vector<std::pair<std::string, at::Tensor>> initialised(torch::nn::Module& module, const std::string& prefix) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  torch::NoGradGuard no_grad;
  for (const auto& p : module.named_parameters(true)) {
    const std::string& name = p.key();
    at::Tensor t = p.value();
    bool norm = name.find("norm") != std::string::npos;
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) t.zero_();
    else if (norm) t.fill_(1.0);
    else t.normal_(0.0, name == "lm_head.weight" ? 0.5 : 0.02);
    out.emplace_back(prefix + name, t);
  }
  return out;
}

}  // namespace

void write_demo_towers(const std::string& out, const DemoTowerOptions& o) {
  MEDVQA_CHECK(fs::is_regular_file(o.tokenizer), o.tokenizer, ": tokenizer.model not found (Meta's LLaMA-3 tokenizer)");
  torch::manual_seed(o.seed);
  fs::path vision = fs::path(out) / "vision", llm = fs::path(out) / "llm";

  json kwargs{{"embed_dim", o.vit_width}, {"depth", o.vit_depth}, {"num_heads", o.vit_heads}, {"patch_size", o.vit_patch}};
  json clip{{"model_cfg",
             {{"embed_dim", o.vit_embed_dim},
              {"vision_cfg",
               {{"timm_model_name", "vit_base_patch16_224"}, {"timm_model_pretrained", false}, {"timm_pool", ""},
                {"timm_proj", "linear"}, {"image_size", 224}, {"timm_model_kwargs", kwargs}}},
              {"text_cfg",
               {{"hf_model_name", "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"},
                {"hf_tokenizer_name", "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"}, {"hf_proj_type", "mlp"},
                {"hf_pooler_type", "cls_last_hidden_state_pooler"}, {"context_length", 256}}}}},
            {"preprocess_cfg", {{"mean", {0.48145466, 0.4578275, 0.40821073}}, {"std", {0.26862954, 0.26130258, 0.27577711}}}}};
  write_file_atomic((vision / "open_clip_config.json").string(), clip.dump(2) + "\n");
  Vit vit(read_vit_config(vision.string()));
  write_safetensors((vision / "open_clip_model.safetensors").string(), initialised(*vit, "visual."), {{"format", "pt"}});

  LlamaOptions lo;
  lo.hidden_size = o.llm_hidden;
  lo.intermediate_size = o.llm_intermediate;
  lo.num_hidden_layers = o.llm_layers;
  lo.num_attention_heads = o.llm_heads;
  lo.num_key_value_heads = o.llm_kv_heads;
  lo.head_dim = o.llm_hidden / o.llm_heads;
  lo.max_position_embeddings = 1024;
  const json config = hf_config_json(lo, c10::kFloat, 128009);
  write_file_atomic((llm / "config.json").string(), config.dump(2) + "\n");
  json generation{{"bos_token_id", 128000}, {"eos_token_id", {128001, 128009}}, {"do_sample", false}};
  write_file_atomic((llm / "generation_config.json").string(), generation.dump(2) + "\n");
  Llama model(lo);
  write_safetensors((llm / "model.safetensors").string(), initialised(*model, ""), {{"format", "pt"}});
  fs::create_directories(llm / "original");
  fs::path tok_dir = fs::path(o.tokenizer).parent_path();
  fs::copy_file(o.tokenizer, llm / "original" / "tokenizer.model", fs::copy_options::overwrite_existing);
  for (const char* f : {"LICENSE", "NOTICE"})
    if (fs::exists(tok_dir / f)) fs::copy_file(tok_dir / f, llm / "original" / f, fs::copy_options::overwrite_existing);
}

}  // namespace medvqa
