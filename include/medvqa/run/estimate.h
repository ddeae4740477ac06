// `medvqa config --estimate`: parameter counts and per-GPU training memory of a config, from the
// model config files alone (open_clip_config.json, config.json / params.json; no weights read).
// Counts are exact for the modules medvqa builds; activation bytes follow the tensors autograd
// keeps per decoder layer (estimate.cpp lists them), so they are an estimate, not a measurement.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "medvqa/config/config.h"

namespace medvqa {

struct VitOptions;    // vit.h
struct LlamaOptions;  // llama.h: declared only, so the CLI includes this without LibTorch

struct EstimateOptions {
  int64_t gpus = 1;                 // data-parallel ranks (each holds a full replica)
  double gpu_memory_gib = 40;       // per GPU
  int64_t label_tokens = 32;        // answer tokens per sample: the LM head runs only there
  double overhead_gib = 1.5;        // CUDA context, cuBLAS/SDPA workspaces, allocator slack
};

// NCCL's own device buffers with more than one GPU, as assumed (not measured): NCCL_BUFFSIZE
// (4 MiB by default) for each of the simple, LL and LL128 protocols, both directions, both ring
// neighbours, over 16 channels.
constexpr double kNcclBufferBytes = 4.0 * 1024 * 1024 * 3 * 2 * 2 * 16;

struct ParameterCounts {
  int64_t vision = 0, projector = 0, llm = 0, lora = 0, token_rows = 0;
  int64_t total() const { return vision + projector + llm + lora + token_rows; }
  int64_t trainable = 0;
};

// Parameters of the modules medvqa builds for these options (what named_parameters() counts).
int64_t vit_parameter_count(const VitOptions& options);
int64_t llama_parameter_count(const LlamaOptions& options);
ParameterCounts count_parameters(const ModelConfig& model, Stage stage, const VitOptions& vit,
                                 const LlamaOptions& llm);

struct MemoryEstimate {
  ParameterCounts params;
  std::string weight_dtype, compute_dtype, trainable_dtype;
  int64_t tokens = 0;  // per micro-batch per GPU: batch_size x max_seq_len
  // Bytes per GPU.
  double weights = 0, gradients = 0, optimizer = 0, allreduce = 0, nccl = 0, head = 0, overhead = 0;
  double autocast_copies = 0;  // compute-dtype copies of the fp32 trainable weights, kept for backward
  double backward = 0;         // the gradient tensors of the one decoder layer backward is in
  double activations = 0, activations_checkpointed = 0;
  bool checkpointing = false;  // the config's choice
  double total(bool with_checkpointing) const;
  EstimateOptions options;
};

// `config`'s model.vision and model.llm directories supply the model configs.
MemoryEstimate estimate_memory(const Config& config, const EstimateOptions& options);
std::string estimate_table(const MemoryEstimate& estimate, const Config& config);
nlohmann::json estimate_json(const MemoryEstimate& estimate, const Config& config);

}  // namespace medvqa
