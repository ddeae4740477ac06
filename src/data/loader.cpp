#include "medvqa/data/loader.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "medvqa/core/error.h"
#include "medvqa/vision/preprocess_files.h"

namespace medvqa {

DataLoader::DataLoader(std::vector<Sample> samples, std::vector<std::string> images, const LoaderOptions& options)
    : samples_(std::move(samples)), images_(std::move(images)), options_(options) {
  MEDVQA_CHECK(samples_.size() == images_.size(), "loader: ", samples_.size(), " samples, ", images_.size(), " images");
  MEDVQA_CHECK(!samples_.empty(), "loader: no items");
  prefetch();
}

DataLoader::~DataLoader() {
  if (pending_.valid()) pending_.wait();
}

int64_t DataLoader::batches_per_epoch() const {
  int64_t global = options_.batch_size * options_.world_size;
  return (static_cast<int64_t>(samples_.size()) + global - 1) / global;
}

int64_t DataLoader::batches_before_epoch(int64_t epoch) const {
  if (position_.epoch >= epoch) return 0;
  int64_t global = options_.batch_size * options_.world_size;
  int64_t left = static_cast<int64_t>(samples_.size()) - position_.sample;
  return (left + global - 1) / global + (epoch - position_.epoch - 1) * batches_per_epoch();
}

LoaderPosition DataLoader::advance(LoaderPosition p) const {
  int64_t n = static_cast<int64_t>(samples_.size());
  p.sample = std::min(n, p.sample + options_.batch_size * options_.world_size);
  if (p.sample >= n) p = {p.epoch + 1, 0};
  return p;
}

std::vector<size_t> DataLoader::batch_indices(LoaderPosition p) const {
  std::vector<size_t> order(samples_.size());
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    // One generator per epoch, seeded from (seed, epoch): any epoch's order can be rebuilt alone.
    std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(p.epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  // The global batch at p holds n = min(B*W, left) items of the order; rank r takes
  // [r*n/W, (r+1)*n/W) of it (r*B .. (r+1)*B for a full batch).
  int64_t n = std::min(options_.batch_size * options_.world_size, static_cast<int64_t>(order.size()) - p.sample);
  int64_t W = options_.world_size, r = options_.rank;
  auto begin = order.begin() + p.sample;
  return std::vector<size_t>(begin + r * n / W, begin + (r + 1) * n / W);
}

int64_t DataLoader::label_tokens_ahead(int64_t ahead) const {
  LoaderPosition p = position_;
  for (int64_t k = 0; k < ahead; ++k) p = advance(p);
  int64_t n = 0;
  for (size_t i : batch_indices(p)) n += samples_[i].label_count();
  return n;
}

Batch DataLoader::load(const std::vector<size_t>& indices) const {
  if (indices.empty()) return Batch{};
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
  position_ = advance(position_);
  prefetch();
  return b;
}

void DataLoader::set_position(const LoaderPosition& p) {
  MEDVQA_CHECK(p.epoch >= 0 && p.sample >= 0 && p.sample < static_cast<int64_t>(samples_.size()), "loader: position (epoch ",
               p.epoch, ", sample ", p.sample, ") is outside an epoch of ", samples_.size(), " items (another data set?)");
  if (pending_.valid()) pending_.wait();
  position_ = p;
  prefetch();
}

}  // namespace medvqa
