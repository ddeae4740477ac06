#include "medvqa/data/split.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa {
namespace {

using json = nlohmann::json;
const char* kSplits[] = {"train", "val", "test"};

// Fisher-Yates with an explicit draw rule, so the split is the same with every standard library.
void shuffle(std::vector<std::string>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace

SplitManifest make_split(const std::vector<VqaItem>& items, const std::array<double, 3>& fractions, uint64_t seed) {
  std::map<std::string, std::map<std::string, std::vector<std::string>>> by_dataset;  // dataset -> image -> ids
  std::set<std::string> seen;
  for (const auto& item : items) {
    MEDVQA_CHECK(seen.insert(item.question_id).second, item.source, ": question_id \"", item.question_id,
                 "\" appears more than once");
    by_dataset[item.dataset][item.image_path].push_back(item.question_id);
  }
  SplitManifest m;
  m.seed = seed;
  m.fractions = fractions;
  for (const char* s : kSplits) m.ids[s];
  std::mt19937_64 rng(seed);
  for (auto& [dataset, images] : by_dataset) {
    std::vector<std::string> keys;
    for (const auto& kv : images) keys.push_back(kv.first);  // sorted: std::map order
    shuffle(keys, rng);
    size_t n = keys.size();
    size_t n_train = static_cast<size_t>(std::llround(fractions[0] * n));
    size_t n_val = std::min(n - n_train, static_cast<size_t>(std::llround(fractions[1] * n)));
    for (size_t i = 0; i < n; ++i) {
      const char* split = i < n_train ? "train" : i < n_train + n_val ? "val" : "test";
      for (const auto& id : images[keys[i]]) m.ids[split].push_back(id);
    }
  }
  for (auto& kv : m.ids) std::sort(kv.second.begin(), kv.second.end());
  return m;
}

void write_manifest(const std::string& path, const SplitManifest& manifest) {
  json j{{"seed", manifest.seed}, {"fractions", manifest.fractions}, {"splits", manifest.ids}};
  write_file_atomic(path, j.dump(1) + "\n");
}

SplitManifest read_manifest(const std::string& path) {
  std::ifstream in(path);
  MEDVQA_CHECK(in, path, ": cannot open split manifest");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    MEDVQA_FAIL(path, ": invalid JSON: ", e.what());
  }
  SplitManifest m;
  try {
    m.seed = j.at("seed").get<uint64_t>();
    m.fractions = j.at("fractions").get<std::array<double, 3>>();
    for (const char* s : kSplits) m.ids[s] = j.at("splits").at(s).get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    MEDVQA_FAIL(path, ": not a split manifest (expected seed, fractions and splits.train/val/test lists of ids): ", e.what());
  }
  return m;
}

std::vector<VqaItem> select_split(const std::vector<VqaItem>& items, const SplitManifest& manifest, const std::string& split) {
  if (split == "all") return items;
  auto it = manifest.ids.find(split);
  MEDVQA_CHECK(it != manifest.ids.end(), "split: expected train, val, test or all, got '", split, "'");
  std::set<std::string> wanted(it->second.begin(), it->second.end());
  std::vector<VqaItem> out;
  for (const auto& item : items)
    if (wanted.erase(item.question_id)) out.push_back(item);
  MEDVQA_CHECK(wanted.empty(), "split manifest names ", wanted.size(), " question ids of the ", split,
               " split that the dataset lacks (e.g. \"", *wanted.begin(), "\"): a manifest of another dataset or filter?");
  return out;
}

std::vector<VqaItem> filter_items(const std::vector<VqaItem>& items, const std::vector<std::string>& modalities,
                                  const std::vector<std::string>& question_types, const std::vector<std::string>& datasets) {
  auto keep = [](const std::vector<std::string>& allowed, const std::string& v) {
    return allowed.empty() || std::find(allowed.begin(), allowed.end(), v) != allowed.end();
  };
  std::vector<VqaItem> out;
  for (const auto& item : items)
    if (keep(modalities, item.modality_type) && keep(question_types, item.question_type) && keep(datasets, item.dataset))
      out.push_back(item);
  return out;
}

}  // namespace medvqa
