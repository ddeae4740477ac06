// Per-item scores -> the metrics.json object: micro averages, the bootstrap interval of the
// headline accuracy, the macro average over modalities and the three breakdowns. Not the scoring
// of an item (scorers.h), not writing files or reports.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "medvqa/eval/scorers.h"

namespace medvqa {

constexpr int kBootstrapResamples = 1000;
constexpr uint32_t kBootstrapSeed = 0;

// 95% percentile bootstrap interval of the mean of `correct` (rule in metrics.cpp, docs/scoring.md).
std::array<double, 2> bootstrap_ci95(const std::vector<bool>& correct, int resamples = kBootstrapResamples,
                                     uint32_t seed = kBootstrapSeed);

// {"n", "open_accuracy", "lenient_accuracy", "token_f1", "qa_score", ["prefix_score",]
//  "open_accuracy_ci95", "macro_open_accuracy", "by_modality", "by_question_type", "by_dataset"},
// in that order; each breakdown maps a name (sorted by code point) to {"n", "open_accuracy", ...,
// "qa_score"[, "prefix_score"]}. The multiple-choice scores average the items with options only
// (null where there are none): the prefix score averages the items with prefix_correct set.
// items must not be empty.
nlohmann::ordered_json compute_metrics(const std::vector<ItemScore>& items, bool with_prefix = false);

}  // namespace medvqa
