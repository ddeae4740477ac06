#include "medvqa/eval/evaluator.h"

#include <filesystem>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/data/dataset.h"
#include "medvqa/eval/answerer.h"
#include "medvqa/eval/metrics.h"
#include "medvqa/eval/scorers.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/vision/batch.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

// Greedy answers to every item, `batch` prompts at a time; blind zeroes the image features.
std::vector<std::string> answer_all(Answerer& answerer, const std::vector<Sample>& samples,
                                    const std::vector<VqaItem>& items, const Config& config, bool blind) {
  const vision::PreprocessOptions pre = image_options(config);
  std::vector<std::string> answers;
  size_t n = samples.size(), step = static_cast<size_t>(config.eval.batch_size);
  for (size_t start = 0; start < n; start += step) {
    size_t end = std::min(n, start + step);
    std::vector<std::vector<int64_t>> prompts;
    std::vector<std::string> paths;
    for (size_t i = start; i < end; ++i) {
      prompts.push_back(samples[i].ids);
      paths.push_back(items[i].image);
    }
    at::Tensor pixels = stack_pixels(vision::preprocess_files(paths, pre, static_cast<int>(config.data.workers)));
    GenerationResult r = answerer.generate(prompts, pixels, config.eval.max_new_tokens, blind);
    for (auto& ids : r.ids) answers.push_back(answerer.text(ids));
    log_info("eval: ", blind ? "blind " : "", end, "/", n, " answered");
  }
  return answers;
}

std::vector<ItemScore> score_all(const std::vector<VqaItem>& items, const std::vector<std::string>& answers,
                                 nlohmann::ordered_json* lines) {
  std::vector<ItemScore> scores;
  for (size_t i = 0; i < items.size(); ++i) {
    const VqaItem& it = items[i];
    Prediction p{it.question_id, it.dataset, it.modality_type, it.question_type, it.question, it.gt_answer, it.options,
                 answers[i]};
    scores.push_back(score_item(p));
    if (lines)
      lines->push_back({{"question_id", p.question_id}, {"dataset", p.dataset}, {"modality_type", p.modality_type},
                        {"question_type", p.question_type}, {"question", p.question}, {"gt_answer", p.gt_answer},
                        {"options", p.options}, {"prediction", p.prediction}, {"image", it.image},
                        {"open_correct", scores.back().open_correct}});
  }
  return scores;
}

}  // namespace

nlohmann::ordered_json evaluate(const Config& config) {
  set_threads(static_cast<int>(config.model.threads));
  Answerer answerer(config);
  std::vector<VqaItem> items;
  auto samples = build_samples(answerer.tokenizer(), load_items(config.data, config.eval.split), answerer.prompt_options(),
                               config.data, false, items);
  log_info("eval: ", items.size(), " items of the ", config.eval.split, " split");

  nlohmann::ordered_json lines = nlohmann::ordered_json::array();
  auto answers = answer_all(answerer, samples, items, config, false);
  nlohmann::ordered_json metrics = compute_metrics(score_all(items, answers, &lines));
  if (config.eval.blind) {
    auto blind = score_all(items, answer_all(answerer, samples, items, config, true), nullptr);
    metrics["blind_open_accuracy"] = compute_metrics(blind)["open_accuracy"];
  }
  fs::path out(config.eval.out_dir);
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  write_file_atomic((out / "predictions.jsonl").string(), text);
  write_file_atomic((out / "metrics.json").string(), metrics.dump(2) + "\n");
  log_info("eval: open-ended accuracy ", metrics["open_accuracy"].get<double>(), " on ", items.size(), " items; ",
           (out / "metrics.json").string());
  double acc = metrics["open_accuracy"].get<double>();
  MEDVQA_CHECK(acc >= config.eval.floor, "eval: open-ended accuracy ", acc, " is below eval.floor=", config.eval.floor);
  return metrics;
}

}  // namespace medvqa
