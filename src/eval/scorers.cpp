#include "medvqa/eval/scorers.h"

#include <algorithm>
#include <map>

#include "medvqa/eval/normalize.h"
#include "medvqa/eval/sequence_matcher.h"
#include "medvqa/eval/unicode.h"

namespace medvqa {
namespace {

using Tokens = std::vector<std::string>;

bool lenient_of(const Tokens& prediction, const Tokens& gt) {
  return prediction == gt || (!gt.empty() && std::search(prediction.begin(), prediction.end(), gt.begin(),
                                                         gt.end()) != prediction.end());
}

double f1_of(const Tokens& prediction, const Tokens& gt) {
  if (prediction.empty() || gt.empty()) return prediction == gt ? 1.0 : 0.0;
  std::map<std::string, size_t> gt_counts;
  for (const std::string& t : gt) ++gt_counts[t];
  size_t same = 0;
  for (const std::string& t : prediction) {
    auto it = gt_counts.find(t);
    if (it != gt_counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  // The operation order of SQuAD's evaluate script, so results agree to the last bit.
  const double precision = static_cast<double>(same) / static_cast<double>(prediction.size());
  const double recall = static_cast<double>(same) / static_cast<double>(gt.size());
  return 2 * precision * recall / (precision + recall);
}

}  // namespace

bool exact_match(std::string_view prediction, std::string_view gt) {
  return normalize_tokens(prediction) == normalize_tokens(gt);
}

bool lenient_match(std::string_view prediction, std::string_view gt) {
  return lenient_of(normalize_tokens(prediction), normalize_tokens(gt));
}

double token_f1(std::string_view prediction, std::string_view gt) {
  return f1_of(normalize_tokens(prediction), normalize_tokens(gt));
}

QaChoice qa_choice(const std::vector<std::string>& options, std::string_view prediction) {
  const SequenceMatcher matcher(decode_utf8(prediction));
  QaChoice best;
  for (size_t i = 0; i < options.size(); ++i) {
    double r = matcher.ratio(decode_utf8(options[i]));
    if (r > best.ratio) best = {static_cast<int>(i), r};
  }
  return best;
}

ItemScore score_item(const Prediction& p) {
  ItemScore s;
  s.question_id = p.question_id;
  s.dataset = p.dataset;
  s.modality_type = p.modality_type;
  s.question_type = p.question_type;
  Tokens prediction = normalize_tokens(p.prediction), gt = normalize_tokens(p.gt_answer);
  s.open_correct = prediction == gt;
  s.lenient_correct = lenient_of(prediction, gt);
  s.token_f1 = f1_of(prediction, gt);
  s.normalized_prediction = join_tokens(prediction);
  s.normalized_gt = join_tokens(gt);
  s.has_options = !p.options.empty();
  s.qa = qa_choice(p.options, p.prediction);
  s.qa_correct = s.qa.index >= 0 && p.options[static_cast<size_t>(s.qa.index)] == p.gt_answer;
  return s;
}

}  // namespace medvqa
