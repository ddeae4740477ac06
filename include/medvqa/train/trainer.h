// One trainer for both stages (the stage is a value): builds the model and data from the config,
// runs AdamW with warmup + cosine, gradient accumulation and clipping, the loss summed over label
// tokens and divided by the label count of the whole optimizer step, validation loss, metrics,
// the loss-curve picture, atomic checkpoints and resume, and writes final/ (projector + adapter).
// Data parallel when launched with the torchrun or SLURM environment (medvqa/dist): rank 0 writes.
#pragma once

#include <string>

#include "medvqa/config/config.h"

namespace medvqa {

struct TrainSummary {
  int64_t steps = 0;
  double last_loss = 0;
  double val_loss = -1;  // -1 when there is no validation split
  std::string run_dir;
  int rank = 0;  // this process's data-parallel rank
};

TrainSummary train(const Config& config);

}  // namespace medvqa
