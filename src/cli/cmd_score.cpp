// medvqa score --predictions FILE.jsonl [--json] [--per-item OUT.jsonl]: the text scorers of
// docs/scoring.md on any predictions file, so other systems are scored by exactly our rules.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "medvqa/cli/commands.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/eval/metrics.h"
#include "medvqa/eval/predictions.h"
#include "medvqa/eval/scorers.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa::cli {
namespace {

using nlohmann::ordered_json;

// null: no item of the group has options (the multiple-choice scores skip such items).
std::string percent(const ordered_json& fraction) {
  if (fraction.is_null()) return "     -";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%6.2f", 100.0 * fraction.get<double>());
  return buf;
}

void print_table(const std::string& path, const ordered_json& m) {
  const auto& ci = m["open_accuracy_ci95"];
  std::printf("predictions: %s (%zu items)\n", path.c_str(), m["n"].get<size_t>());
  std::printf("open accuracy       %s %%  (95%% CI %s -%s)\n", percent(m["open_accuracy"]).c_str(),
              percent(ci[0]).c_str(), percent(ci[1]).c_str());
  std::printf("  macro, modalities %s %%\n", percent(m["macro_open_accuracy"]).c_str());
  std::printf("lenient accuracy    %s %%\n", percent(m["lenient_accuracy"]).c_str());
  std::printf("token F1            %s %%\n", percent(m["token_f1"]).c_str());
  std::printf("QA score (difflib)  %s %%\n\n", percent(m["qa_score"]).c_str());
  std::printf("%-40s %7s %7s %7s %7s %7s\n", "modality", "n", "open", "lenient", "F1", "QA");
  for (const auto& [name, g] : m["by_modality"].items()) {
    std::printf("%-40s %7zu %7s %7s %7s %7s\n", name.c_str(), g["n"].get<size_t>(),
                percent(g["open_accuracy"]).c_str(), percent(g["lenient_accuracy"]).c_str(),
                percent(g["token_f1"]).c_str(), percent(g["qa_score"]).c_str());
  }
}

// One line per item: the decisions and the normalised texts they were made on.
void write_per_item(const std::string& path, const std::vector<ItemScore>& scores) {
  std::string text;
  for (const ItemScore& s : scores) {
    ordered_json line = {{"question_id", s.question_id},
                         {"normalized_prediction", s.normalized_prediction},
                         {"normalized_gt", s.normalized_gt},
                         {"open_correct", s.open_correct},
                         {"lenient_correct", s.lenient_correct},
                         {"token_f1", s.token_f1},
                         {"qa_choice", s.qa.index},
                         {"qa_ratio", s.qa.ratio},
                         {"qa_correct", s.qa_correct}};
    text += line.dump() + "\n";
  }
  write_file_atomic(path, text);
}

}  // namespace

void add_score(CLI::App& app) {
  auto* cmd = app.add_subcommand("score", "Score a predictions.jsonl with the text scorers (docs/scoring.md)");
  auto predictions = std::make_shared<std::string>();
  auto per_item = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("--predictions", *predictions, "JSONL: question_id, dataset, modality_type, question_type, "
                                                 "question, gt_answer, options, prediction")
      ->required();
  cmd->add_flag("--json", *as_json, "print the metrics.json object instead of a table");
  cmd->add_option("--per-item", *per_item, "also write each item's decisions to this JSONL file");
  cmd->callback([=] {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Prediction> items = read_predictions(*predictions);
    std::vector<ItemScore> scores;
    scores.reserve(items.size());
    for (const Prediction& p : items) scores.push_back(score_item(p));
    ordered_json metrics = compute_metrics(scores);
    const double seconds = seconds_since(t0);
    log_debug("score: ", scores.size(), " items in ", seconds, " s");
    if (!per_item->empty()) write_per_item(*per_item, scores);
    if (*as_json) {
      std::printf("%s\n", metrics.dump(2).c_str());
    } else {
      print_table(*predictions, metrics);
    }
  });
}

}  // namespace medvqa::cli
