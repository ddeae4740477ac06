// A candidate evaluation against a baseline one (`medvqa compare`, eval.baseline): items paired by
// question id, each side judged by the same open-ended rule (scorers.h), the accuracy difference
// overall and per group with its paired bootstrap interval and McNemar p-value, Holm's adjustment
// over the family, and the gate decision. Pure: no files written, no torch; not the JUnit file (junit.h).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "medvqa/eval/paired_stats.h"
#include "medvqa/eval/predictions.h"

namespace medvqa {

struct CompareOptions {
  double max_drop = 0.01;  // a drop of more than this (a fraction, not points) can fail the gate
  std::vector<std::string> group_by = {"modality", "question_type", "dataset"};
  size_t min_n = 30;  // smaller groups are reported but not tested
  double alpha = 0.05;  // on Holm-adjusted p-values
  int resamples = kPairedBootstrapResamples;
  uint64_t seed = kPairedBootstrapSeed;
};

// The group_by names `compare` accepts, in that order: modality, question_type, dataset.
const std::vector<std::string>& compare_dimensions();

struct GroupComparison {
  std::string dimension;  // "overall" or one of compare_dimensions()
  std::string name;       // the group's value ("CT"); "all" for overall
  size_t n = 0;
  double baseline_accuracy = 0, candidate_accuracy = 0, difference = 0;  // difference = candidate - baseline
  std::array<double, 2> ci95{0, 0};
  size_t right_to_wrong = 0, wrong_to_right = 0;  // McNemar's b and c
  bool tested = false;  // n >= min_n; untested groups have no p-values and never fail
  double p = 1, p_holm = 1;
  bool failed = false;  // difference < -max_drop and p_holm < alpha
  std::string label() const;  // "overall", "modality=CT"
};

// An item right in the baseline and wrong in the candidate.
struct FlippedItem {
  std::string question_id, modality_type, question, gt_answer, baseline_prediction, candidate_prediction, image;
};

struct Comparison {
  CompareOptions options;
  std::string baseline, candidate;  // where each side came from, for messages
  std::vector<GroupComparison> groups;  // overall first, then each dimension's groups by name
  std::vector<std::string> baseline_only, candidate_only;  // question ids, in file order
  std::vector<FlippedItem> flipped;  // right -> wrong, in candidate file order
  bool failed() const;
  // "modality=CT: -12.50 points (95% CI -18.75 to -6.25, Holm p 0.0002); ..." over the failed groups.
  std::string failure_summary() const;
};

// Pairs the two sides by question_id. Errors (Error) name the file and the id: a question id twice
// in one file, or the same id with different gt answers on the two sides; an unknown group_by name.
// Items on one side only are listed, not scored. No paired item at all is an error.
Comparison compare_predictions(const std::vector<Prediction>& baseline, const std::vector<Prediction>& candidate,
                               const CompareOptions& options, const std::string& baseline_where,
                               const std::string& candidate_where);

// A baseline or candidate argument: an eval directory (its predictions.jsonl) or a predictions file.
std::string predictions_path(const std::string& dir_or_file);

// {"baseline", "candidate", "passed", "options", "paired", "baseline_only", "candidate_only",
//  "groups": [{"dimension", "name", "n", "baseline_accuracy", "candidate_accuracy", "difference",
//  "ci95", "right_to_wrong", "wrong_to_right", "tested", "p", "p_holm", "failed"}], "flipped"}.
// Untested groups have null p-values.
nlohmann::ordered_json to_json(const Comparison& c);

}  // namespace medvqa
