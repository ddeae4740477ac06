// Training checkpoints: the trainable weights, the optimizer state, the step, the data position
// and every rank's RNG state, written as one folder that appears atomically (written under a
// temporary name, then renamed), the last K kept. Enough to resume bit for bit on the CPU at the
// same world size; the data position (samples consumed) carries over to any other world size.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "medvqa/data/loader.h"

namespace medvqa {

struct TrainState {
  int64_t step = 0;  // optimizer steps done
  LoaderPosition data;
  std::vector<at::Tensor> rng;  // CPU generator state of each rank (saving); this rank's, if stored (loading)
};

struct Checkpointable {
  std::vector<std::pair<std::string, at::Tensor>> weights;  // trainable parameters by name
  torch::optim::Optimizer* optimizer = nullptr;
};

// Writes <run>/checkpoints/step_<N>/ and removes all but the newest `keep_last`; returns its path.
std::string save_checkpoint(const std::string& run_dir, const Checkpointable& what, const TrainState& state,
                            int64_t keep_last);
// "auto" = the newest checkpoint of run_dir ("" when none), else the path itself.
std::string resolve_checkpoint(const std::string& resume, const std::string& run_dir);
// Restores the weights, the optimizer and, when the checkpoint holds one for `rank`, that rank's
// CPU generator (state.rng then has it as its one element).
TrainState load_checkpoint(const std::string& path, const Checkpointable& what, int rank = 0);

}  // namespace medvqa
