// The text scorers of one prediction (docs/scoring.md): open-ended exact and lenient match and
// token F1 over normalised answers, and OmniMedVQA's question-answering score. Not the
// prefix-based score (it needs the model: the evaluator), not the aggregation (metrics.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medvqa/eval/predictions.h"

namespace medvqa {

// normalize(prediction) == normalize(gt).
bool exact_match(std::string_view prediction, std::string_view gt);
// Exact, or the non-empty normalised gt tokens occur contiguously in the normalised prediction.
bool lenient_match(std::string_view prediction, std::string_view gt);
// SQuAD's F1 over normalised tokens (multiset overlap); 1 if both are empty, 0 if one is.
double token_f1(std::string_view prediction, std::string_view gt);

// The option OmniMedVQA's QA score picks: highest difflib ratio(option, prediction), the first
// maximum wins; index -1 when every ratio is 0 (or there are no options), which counts as wrong.
struct QaChoice {
  int index = -1;
  double ratio = 0.0;
};
QaChoice qa_choice(const std::vector<std::string>& options, std::string_view prediction);

// Every text score of one item, with what the breakdowns group by.
struct ItemScore {
  std::string question_id, dataset, modality_type, question_type;
  std::string normalized_prediction, normalized_gt;
  bool open_correct = false;
  bool lenient_correct = false;
  double token_f1 = 0.0;
  bool has_options = false;  // the multiple-choice scores cover only items with options
  QaChoice qa;
  bool qa_correct = false;  // the chosen option's text equals gt_answer
  std::optional<bool> prefix_correct;  // set by the evaluator (prefix_score.h) for items with options
};
ItemScore score_item(const Prediction& p);

}  // namespace medvqa
