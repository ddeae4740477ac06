// Batches for training and evaluation: items tokenised once up front, a seeded sampler that
// reshuffles every epoch and gives each rank its share of every global batch (every item exactly
// once per epoch), and images decoded and preprocessed on worker threads while the previous batch
// computes. The position (epoch, samples consumed) does not depend on the world size, so a run can
// resume on another number of ranks; at the same world size it sees exactly the same batches.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "medvqa/data/batch.h"
#include "medvqa/data/prompt.h"
#include "medvqa/data/vqa_item.h"
#include "medvqa/vision/transform.h"

namespace medvqa {

struct LoaderOptions {
  int64_t batch_size = 4;
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t rank = 0, world_size = 1;
  int workers = 2;
  int64_t pad_id = 128004;
  vision::PreprocessOptions preprocess;
};

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t sample = 0;  // samples of the epoch's global order consumed by all ranks together
};

class DataLoader {
 public:
  DataLoader(std::vector<Sample> samples, std::vector<std::string> images, const LoaderOptions& options);
  ~DataLoader();
  // Global batches per epoch: the epoch's order cut into batches of batch_size * world_size, the
  // last one partial. Rank r takes the r-th of world_size near-equal slices of each global batch,
  // so every rank takes the same number of batches; in a partial one a slice may be empty.
  int64_t batches_per_epoch() const;
  // Batches from the current position until epoch `epoch` begins.
  int64_t batches_before_epoch(int64_t epoch) const;
  // Label tokens of the batch `ahead` positions from the current one (for the loss normaliser).
  int64_t label_tokens_ahead(int64_t ahead) const;
  Batch next();  // advances the position, rolling over epochs; an empty slice has no indices and no tensors
  LoaderPosition position() const { return position_; }
  void set_position(const LoaderPosition& p);

 private:
  LoaderPosition advance(LoaderPosition p) const;  // past one global batch
  std::vector<size_t> batch_indices(LoaderPosition p) const;
  Batch load(const std::vector<size_t>& indices) const;
  void prefetch();

  std::vector<Sample> samples_;
  std::vector<std::string> images_;
  LoaderOptions options_;
  LoaderPosition position_;
  std::future<Batch> pending_;
};

}  // namespace medvqa
