#include "medvqa/models/registry.h"

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/state_dict.h"
#include "medvqa/models/llama_loader.h"
#include "medvqa/text/chat_template.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

std::unique_ptr<Tokenizer> load_model_tokenizer(const ModelConfig& config) {
  return load_tokenizer(config.tokenizer.empty() ? config.llm : config.tokenizer);
}

BuiltModel build_model(const ModelConfig& config, const std::string& stage, std::optional<c10::ScalarType> trainable_dtype) {
  MEDVQA_CHECK(!config.vision.empty(), "model.vision: the vision tower directory is not set");
  MEDVQA_CHECK(!config.llm.empty(), "model.llm: the LLaMA directory is not set");
  BuiltModel built;
  built.device = parse_device(config.device);
  built.dtype = parse_dtype(config.dtype, built.device);
  Vit vit = load_vit(config.vision, built.device, built.dtype);
  LoadedLlama llm = load_llama(config.llm, built.device, built.dtype);
  built.eos_ids = llm.eos_ids;
  VqaModelOptions options;
  options.feature_layer = config.feature_layer;
  options.feature_select = config.feature_select;
  options.projector = config.projector;
  options.image_token_id = config.image_token_id;
  built.model = VqaModel(vit, llm.model, options);
  const bool trains = stage == "align" || stage == "lora";
  const c10::ScalarType projector_dtype = trains ? trainable_dtype.value_or(built.dtype) : built.dtype;
  built.model->projector->to(built.device, projector_dtype);
  if (!config.projector_weights.empty()) {
    load_state_dict(*built.model->projector, TensorStore::open(config.projector_weights));
    log_info("model: projector from ", config.projector_weights);
  }

  if (!config.adapter.empty()) {
    const auto adapter_dtype = stage == "lora" ? trainable_dtype : std::nullopt;
    built.adapter = attach_peft_adapter(*built.model->llm, config.adapter, adapter_dtype);
    log_info("model: LoRA adapter r=", built.adapter.lora.r, " from ", config.adapter);
  } else if (stage == "lora" && config.lora.r > 0) {
    built.adapter.lora = {config.lora.r, config.lora.alpha, config.lora.dropout, trainable_dtype};
    built.adapter.targets = config.lora.targets;
    built.adapter.base_model = config.llm;
    int n = add_lora(*built.model->llm, built.adapter);
    log_info("model: fresh LoRA r=", config.lora.r, " alpha=", config.lora.alpha, " on ", n, " layers");
    if (config.train_special_rows) {
      // A base (non-Instruct) LLaMA-3 never trained the header and eot rows the template uses.
      auto tokenizer = load_model_tokenizer(config);
      std::vector<int64_t> ids;
      for (int32_t id : llama3_chat_special_ids(*tokenizer)) ids.push_back(id);
      built.adapter.trainable_tokens = {{"embed_tokens", ids}, {"lm_head", ids}};
      for (const auto& [layer, rows] : built.adapter.trainable_tokens) built.model->llm->add_trainable_tokens(layer, rows, trainable_dtype);
      log_info("model: embedding and output rows of ", ids.size(), " chat special tokens train");
    }
  }
  MEDVQA_CHECK(!config.train_special_rows || stage != "align", "model.train_special_rows: applies to train.stage lora ",
               "(the rows are saved in its PEFT adapter); stage align trains the projector only");
  MEDVQA_CHECK(!config.train_special_rows || !config.adapter.empty() || stage != "lora" || config.lora.r > 0,
               "model.train_special_rows: needs model.lora.r > 0 (the rows are saved in the PEFT adapter)");

  for (auto& p : built.model->parameters()) p.set_requires_grad(false);
  if (trains)
    for (auto& p : built.model->projector->parameters()) p.set_requires_grad(true);
  if (stage == "lora")
    for (auto& [name, layer] : lora_layers(*built.model->llm)) {
      layer->lora_A->weight.set_requires_grad(true);
      layer->lora_B->weight.set_requires_grad(true);
    }
  if (stage == "lora")
    for (auto& p : built.model->llm->named_parameters())
      if (p.key().find("trainable_tokens_delta") != std::string::npos) p.value().set_requires_grad(true);
  built.model->llm->gradient_checkpointing = config.gradient_checkpointing;
  built.model->llm->checkpoint_every = config.checkpoint_every;
  built.model->vision->eval();
  return built;
}

std::vector<std::pair<std::string, at::Tensor>> trainable_parameters(VqaModel& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model->named_parameters(true))
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

void save_projector(VqaModel& model, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : model->projector->named_parameters(true)) tensors.emplace_back(p.key(), p.value());
  write_safetensors(path, tensors, {{"format", "pt"}, {"projector", model->options().projector}});
}

}  // namespace medvqa
