// Batches for training and evaluation: items tokenised once up front, a seeded sampler that
// reshuffles every epoch and gives each rank its share, and images decoded and preprocessed on
// worker threads while the previous batch computes. The position (epoch, batch) can be saved and
// restored, so a resumed run sees exactly the batches it would have seen.
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
  int64_t batch = 0;  // next batch within the epoch
};

class DataLoader {
 public:
  DataLoader(std::vector<Sample> samples, std::vector<std::string> images, const LoaderOptions& options);
  ~DataLoader();
  // Batches per epoch for this rank (the global order is cut into world_size equal shares; the
  // last partial global batch is dropped so every rank takes the same number of steps).
  int64_t batches_per_epoch() const;
  // Label tokens of the batch `ahead` positions from the current one (for the loss normaliser).
  int64_t label_tokens_ahead(int64_t ahead) const;
  Batch next();  // advances the position, rolling over epochs
  LoaderPosition position() const { return position_; }
  void set_position(const LoaderPosition& p);

 private:
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
