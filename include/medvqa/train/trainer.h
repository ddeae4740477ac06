// One trainer for both stages (the stage is a value), in the shape of torchtune's recipes: the
// constructor is setup() (rank, seed, model, data, optimizer groups, resume), step() one optimizer
// step, validate() the validation loss, save() a checkpoint, run() the loop with metrics, the
// loss-curve picture and final/ (projector + adapter). AdamW with warmup + cosine, gradient
// accumulation and clipping, the loss summed over label tokens and divided by the label count of
// the whole optimizer step. Data parallel when launched with the torchrun or SLURM environment
// (medvqa/dist): rank 0 writes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/data/batch.h"
#include "medvqa/data/prompt.h"
#include "medvqa/models/vqa_model.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa {

struct TrainSummary {
  int64_t steps = 0;
  double last_loss = 0;
  double val_loss = -1;  // -1 when there is no validation split
  std::string run_dir;
  int rank = 0;         // this process's data-parallel rank
  int stop_signal = 0;  // SIGTERM/SIGINT that stopped the run after its checkpoint; 0 when it ran to the end
};

class Trainer {
 public:
  // setup(): writes nothing (run() creates the run folder).
  explicit Trainer(const Config& config);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One micro-batch of a step whose loss is divided by `label_tokens`: forward (under the config's
  // autocast) and backward, gradients accumulated; the step's last micro-batch starts the gradient
  // all-reduce. Returns the summed loss (on the device) and its label count. No update.
  LossSum accumulate(const Batch& batch, double label_tokens, bool last_micro_batch);
  // One optimizer step over train.grad_accum micro-batches of the training data.
  void step();
  // The validation split's mean token loss (rank 0, once run() loaded it; -1 without one), with a
  // barrier for all ranks.
  double validate();
  // A checkpoint of the current step (all ranks call it; rank 0 writes); returns its path on rank 0.
  std::string save();
  // The loop to train.max_steps (or the epochs), then final/. A stop signal ends it early after a
  // checkpoint, with TrainSummary::stop_signal set.
  TrainSummary run();

  VqaModel& model();
  const Tokenizer& tokenizer() const;
  const PromptOptions& prompt() const;
  const Config& config() const;  // as resolved for this rank (its device)
  const std::vector<std::pair<std::string, at::Tensor>>& trainable() const;

 private:
  void read_window();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Trainer(config).run().
TrainSummary train(const Config& config);

}  // namespace medvqa
