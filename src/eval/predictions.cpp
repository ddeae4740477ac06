#include "medvqa/eval/predictions.h"

#include "medvqa/core/error.h"
#include "medvqa/io/json_reader.h"

namespace medvqa {

std::vector<Prediction> read_predictions(const std::string& path) {
  std::vector<Prediction> predictions;
  for_each_json_line(path, [&](const JsonObject& item, size_t) {
    Prediction p;
    p.question_id = *item.id("question_id");
    p.dataset = *item.string("dataset");
    p.modality_type = *item.string("modality_type");
    p.question_type = *item.string("question_type");
    p.question = *item.string("question");
    p.gt_answer = *item.string("gt_answer");
    p.options = *item.strings("options");
    p.prediction = *item.string("prediction");
    p.image = item.string("image", Presence::kOptional).value_or("");
    predictions.push_back(std::move(p));
  });
  MEDVQA_CHECK(!predictions.empty(), path, ": no predictions (the file is empty)");
  return predictions;
}

}  // namespace medvqa
