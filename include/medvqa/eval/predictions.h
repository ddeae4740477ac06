// One predictions.jsonl line (the evaluator writes them, `medvqa score` reads anyone's) and the
// reader that validates every line. Not the scoring of a prediction (scorers.h).
#pragma once

#include <string>
#include <vector>

namespace medvqa {

struct Prediction {
  std::string question_id;
  std::string dataset;
  std::string modality_type;
  std::string question_type;
  std::string question;
  std::string gt_answer;
  std::vector<std::string> options;  // option_A..D order, absent ones skipped
  std::string prediction;
  std::string image;  // optional: the evaluator writes it, other systems need not
};

// Reads a JSONL file; blank lines are skipped. Throws Error naming the file, the 1-based line and
// the field on invalid JSON or a missing / wrongly typed field, and on a file without predictions.
// question_id may be a JSON string or integer (other systems number their items).
std::vector<Prediction> read_predictions(const std::string& path);

}  // namespace medvqa
