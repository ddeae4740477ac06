// The train/val/test split OmniMedVQA does not have: deterministic, seeded, image-disjoint (all
// questions about one image fall in one split) and stratified by dataset, saved as a JSON
// manifest of question ids that training and evaluation share. Also the item filters.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "medvqa/data/vqa_item.h"

namespace medvqa {

struct SplitManifest {
  uint64_t seed = 0;
  std::array<double, 3> fractions{0.8, 0.1, 0.1};
  std::map<std::string, std::vector<std::string>> ids;  // "train" / "val" / "test" -> question ids
};

SplitManifest make_split(const std::vector<VqaItem>& items, const std::array<double, 3>& fractions, uint64_t seed);
void write_manifest(const std::string& path, const SplitManifest& manifest);  // atomic
SplitManifest read_manifest(const std::string& path);
// The items of one split ("train", "val", "test"; "all" = every item), in item order. Throws if the
// manifest names ids the items lack (a manifest of another dataset).
std::vector<VqaItem> select_split(const std::vector<VqaItem>& items, const SplitManifest& manifest, const std::string& split);
// Keeps items whose modality_type / question_type / dataset is listed (an empty list keeps all).
std::vector<VqaItem> filter_items(const std::vector<VqaItem>& items, const std::vector<std::string>& modalities,
                                  const std::vector<std::string>& question_types, const std::vector<std::string>& datasets);

}  // namespace medvqa
