// Training checkpoints: the trainable weights, the optimizer state, the step, the data position
// and every rank's RNG state, written as one folder that appears atomically (written under a
// temporary name, then renamed), the last K kept. Enough to resume bit for bit on the CPU at the
// same world size; the data position (samples consumed) carries over to any other world size.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "medvqa/data/loader.h"
#include "medvqa/dist/process_group.h"

namespace medvqa {

struct TrainState {
  int64_t step = 0;  // optimizer steps done
  LoaderPosition data;
  // Saving: every rank's generator states by key (gather_rng_states). Loading: the generator kinds
  // ("cpu", "cuda") whose state the checkpoint held for this rank and that were restored.
  std::vector<std::pair<std::string, at::Tensor>> rng;
  std::vector<std::string> rng_restored;
};

struct Checkpointable {
  std::vector<std::pair<std::string, at::Tensor>> weights;  // trainable parameters by name
  torch::optim::Optimizer* optimizer = nullptr;
};

// The generators a rank draws random numbers from, by kind: "cpu", and "cuda" for the rank's GPU
// (where LoRA dropout draws its masks when the model runs there).
std::vector<std::pair<std::string, at::Generator>> rank_generators(const c10::Device& device);
// Every rank's state of each of its generators, for save_checkpoint (a collective: all ranks call it).
std::vector<std::pair<std::string, at::Tensor>> gather_rng_states(ProcessGroup& pg, const c10::Device& device);

// Writes <run>/checkpoints/step_<N>/ and removes all but the newest `keep_last`; returns its path.
std::string save_checkpoint(const std::string& run_dir, const Checkpointable& what, const TrainState& state,
                            int64_t keep_last);
// "auto" = the newest checkpoint of run_dir ("" when none), else the path itself.
std::string resolve_checkpoint(const std::string& resume, const std::string& run_dir);
// Restores the weights, the optimizer (its states mapped to `device`, whichever device wrote them)
// and each of the rank's generators whose state the checkpoint holds for `rank` (state.rng_restored).
TrainState load_checkpoint(const std::string& path, const Checkpointable& what, int rank, const c10::Device& device);

}  // namespace medvqa
