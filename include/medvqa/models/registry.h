// The one place that turns a ModelConfig into a VqaModel with its weights: the vision tower and
// the LLM from their directories, the projector (fresh or from a file), LoRA adapters (fresh for
// stage 2 or from a PEFT directory), and which parameters train. Used by train, eval and ask.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/models/peft_adapter.h"
#include "medvqa/models/vqa_model.h"

namespace medvqa {

struct BuiltModel {
  VqaModel model{nullptr};
  std::vector<int64_t> eos_ids;
  AdapterConfig adapter;  // r = 0 when the model has no LoRA
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
};

struct BuildOptions {
  // What trains (config.h's Stage); unset: inference, nothing trains.
  std::optional<Stage> stage;
  // The weights that train are built and loaded in this dtype (default: model.dtype), so the fp32
  // masters of mixed-precision training hold a stage-1 projector or an adapter bit for bit.
  std::optional<c10::ScalarType> trainable_dtype;
  // model.train_special_rows with a fresh adapter: the token ids whose embedding and output rows
  // train (the chat template's special tokens, chat_template.h).
  std::vector<int64_t> special_rows;
};

BuiltModel build_model(const ModelConfig& config, const BuildOptions& options = {});
// The trainable parameters by name, in a stable order.
std::vector<std::pair<std::string, at::Tensor>> trainable_parameters(VqaModel& model);
void save_projector(VqaModel& model, const std::string& path);

}  // namespace medvqa
