#include "medvqa/models/registry.h"

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/state_dict.h"
#include "medvqa/models/llama_loader.h"

namespace medvqa {
namespace {

// The weights `stage` trains, each module asked for its own; every other parameter is frozen.
void set_trainable(VqaModel& model, std::optional<Stage> stage) {
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  if (!stage) return;
  for (auto& p : model->projector->parameters()) p.set_requires_grad(true);
  if (stage != Stage::lora) return;
  for (auto& [name, layer] : lora_layers(*model->llm))
    for (auto& p : layer->adapter_parameters()) p.set_requires_grad(true);
  for (auto& p : model->llm->trainable_token_parameters()) p.set_requires_grad(true);
}

}  // namespace

BuiltModel build_model(const ModelConfig& config, const BuildOptions& options) {
  MEDVQA_CHECK(!config.vision.empty(), "model.vision: the vision tower directory is not set");
  MEDVQA_CHECK(!config.llm.empty(), "model.llm: the LLaMA directory is not set");
  BuiltModel built;
  built.device = parse_device(config.device);
  built.dtype = parse_dtype(config.dtype, built.device);
  Vit vit = load_vit(config.vision, built.device, built.dtype);
  LoadedLlama llm = load_llama(config.llm, built.device, built.dtype);
  built.eos_ids = llm.eos_ids;
  VqaModelOptions vqa;
  vqa.feature_layer = config.feature_layer;
  vqa.feature_select = config.feature_select;
  vqa.projector = config.projector;
  vqa.image_token_id = config.image_token_id;
  built.model = VqaModel(vit, llm.model, vqa);
  const std::optional<Stage> stage = options.stage;
  const std::optional<c10::ScalarType> trainable_dtype = options.trainable_dtype;
  const c10::ScalarType projector_dtype = stage ? trainable_dtype.value_or(built.dtype) : built.dtype;
  built.model->projector->to(built.device, projector_dtype);
  if (!config.projector_weights.empty()) {
    load_state_dict(*built.model->projector, TensorStore::open(config.projector_weights));
    log_info("model: projector from ", config.projector_weights);
  }

  if (!config.adapter.empty()) {
    const auto adapter_dtype = stage == Stage::lora ? trainable_dtype : std::nullopt;
    built.adapter = attach_peft_adapter(*built.model->llm, config.adapter, adapter_dtype);
    log_info("model: LoRA adapter r=", built.adapter.lora.r, " from ", config.adapter);
  } else if (stage == Stage::lora && config.lora.r > 0) {
    built.adapter.lora = {config.lora.r, config.lora.alpha, config.lora.dropout, trainable_dtype};
    built.adapter.targets = config.lora.targets;
    built.adapter.base_model = config.llm;
    int n = add_lora(*built.model->llm, built.adapter);
    log_info("model: fresh LoRA r=", config.lora.r, " alpha=", config.lora.alpha, " on ", n, " layers");
    if (config.train_special_rows) {
      // A base (non-Instruct) LLaMA-3 never trained the header and eot rows the template uses.
      const std::vector<int64_t>& ids = options.special_rows;
      MEDVQA_CHECK(!ids.empty(), "model.train_special_rows: no special token ids were given to train");
      built.adapter.trainable_tokens = {{"embed_tokens", ids}, {"lm_head", ids}};
      for (const auto& [layer, rows] : built.adapter.trainable_tokens) built.model->llm->add_trainable_tokens(layer, rows, trainable_dtype);
      log_info("model: embedding and output rows of ", ids.size(), " chat special tokens train");
    }
  }
  MEDVQA_CHECK(!config.train_special_rows || stage != Stage::align, "model.train_special_rows: applies to train.stage lora ",
               "(the rows are saved in its PEFT adapter); stage align trains the projector only");
  MEDVQA_CHECK(!config.train_special_rows || !config.adapter.empty() || stage != Stage::lora || config.lora.r > 0,
               "model.train_special_rows: needs model.lora.r > 0 (the rows are saved in the PEFT adapter)");

  set_trainable(built.model, stage);
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
