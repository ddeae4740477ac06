#include "medvqa/data/loader.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "medvqa/core/error.h"
#include "medvqa/vision/batch.h"

namespace medvqa {

DataLoader::DataLoader(std::vector<Sample> samples, std::vector<std::string> images, const LoaderOptions& options)
    : samples_(std::move(samples)), images_(std::move(images)), options_(options) {
  MEDVQA_CHECK(samples_.size() == images_.size(), "loader: ", samples_.size(), " samples, ", images_.size(), " images");
  MEDVQA_CHECK(batches_per_epoch() > 0, "loader: ", samples_.size(), " items are fewer than one global batch of ",
               options_.batch_size * options_.world_size);
  prefetch();
}

DataLoader::~DataLoader() {
  if (pending_.valid()) pending_.wait();
}

int64_t DataLoader::batches_per_epoch() const {
  return static_cast<int64_t>(samples_.size()) / (options_.batch_size * options_.world_size);
}

std::vector<size_t> DataLoader::batch_indices(LoaderPosition p) const {
  p.epoch += p.batch / batches_per_epoch();
  p.batch %= batches_per_epoch();
  std::vector<size_t> order(samples_.size());
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    // One generator per epoch, seeded from (seed, epoch): any epoch's order can be rebuilt alone.
    std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(p.epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  // Global batch b holds order[b*B*W, (b+1)*B*W); rank r takes its r-th slice of B.
  size_t start = static_cast<size_t>((p.batch * options_.world_size + options_.rank) * options_.batch_size);
  return std::vector<size_t>(order.begin() + start, order.begin() + start + options_.batch_size);
}

int64_t DataLoader::label_tokens_ahead(int64_t ahead) const {
  LoaderPosition p = position_;
  p.batch += ahead;
  int64_t n = 0;
  for (size_t i : batch_indices(p))
    for (int64_t l : samples_[i].labels) n += l != kIgnoreIndex;
  return n;
}

Batch DataLoader::load(const std::vector<size_t>& indices) const {
  std::vector<Sample> samples;
  std::vector<std::string> paths;
  for (size_t i : indices) {
    samples.push_back(samples_[i]);
    paths.push_back(images_[i]);
  }
  Batch b = collate(samples, vision::preprocess_files(paths, options_.preprocess, options_.workers), options_.pad_id);
  b.indices = indices;
  return b;
}

void DataLoader::prefetch() {
  pending_ = std::async(std::launch::async, [this, indices = batch_indices(position_)] { return load(indices); });
}

Batch DataLoader::next() {
  Batch b = pending_.get();
  position_.batch += 1;
  if (position_.batch >= batches_per_epoch()) position_ = {position_.epoch + 1, 0};
  prefetch();
  return b;
}

void DataLoader::set_position(const LoaderPosition& p) {
  if (pending_.valid()) pending_.wait();
  position_ = p;
  prefetch();
}

}  // namespace medvqa
