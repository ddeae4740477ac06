#include "medvqa/eval/evaluator.h"

#include <filesystem>
#include <optional>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/core/progress.h"
#include "medvqa/data/dataset.h"
#include "medvqa/dist/gather.h"
#include "medvqa/dist/rank.h"
#include "medvqa/run/answerer.h"
#include "medvqa/eval/compare.h"
#include "medvqa/eval/junit.h"
#include "medvqa/eval/metrics.h"
#include "medvqa/eval/prefix_score.h"
#include "medvqa/eval/report.h"
#include "medvqa/eval/scorers.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/metric_logger.h"
#include "medvqa/vision/preprocess_files.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

// What one pass over the items produced, in item order.
struct Answers {
  std::vector<std::string> text;
  std::vector<std::vector<double>> prefix_losses;  // per option; empty for items without options
};

// One pass in batches of eval.batch_size items: the images are encoded once per batch and serve
// the greedy answers and (with_prefix) the prefix score of every option. blind zeroes the features.
Answers answer_all(Answerer& answerer, const std::vector<Sample>& samples, const std::vector<VqaItem>& items,
                   const Config& config, bool blind, bool with_prefix) {
  const vision::PreprocessOptions pre = image_options(config);
  const int64_t prefix_image_tokens = config.eval.prefix_image ? answerer.model()->image_tokens() : 0;
  Answers out;
  Progress progress(blind ? "eval: blind baseline" : with_prefix ? "eval: answers + prefix score" : "eval: answers",
                    samples.size());
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
    at::Tensor features = answerer.image_features(pixels, blind);  // [B, N, hidden]
    GenerationResult r = answerer.generate(prompts, features, config.eval.max_new_tokens);
    for (auto& ids : r.ids) out.text.push_back(answerer.text(ids));
    if (with_prefix) {
      std::vector<PrefixSequence> sequences;
      for (size_t i = start; i < end; ++i) {
        auto s = prefix_sequences(answerer.tokenizer(), items[i].question, items[i].options, config.model.image_token_id,
                                  prefix_image_tokens, i - start);
        sequences.insert(sequences.end(), s.begin(), s.end());
      }
      std::vector<double> losses = option_losses(answerer.model(), sequences, prefix_image_tokens > 0 ? features : at::Tensor(),
                                                 config.model.pad_token_id, config.eval.batch_size);
      size_t next = 0;
      for (size_t i = start; i < end; ++i) {
        out.prefix_losses.emplace_back(losses.begin() + static_cast<std::ptrdiff_t>(next),
                                       losses.begin() + static_cast<std::ptrdiff_t>(next + items[i].options.size()));
        next += items[i].options.size();
      }
    }
    progress.advance(end - start);
  }
  progress.finish();
  return out;
}

// Every item scored; `lines` and `kept` (optional) receive the predictions.jsonl objects and records.
std::vector<ItemScore> score_all(const std::vector<VqaItem>& items, const Answers& answers, nlohmann::ordered_json* lines,
                                 std::vector<Prediction>* kept = nullptr) {
  std::vector<ItemScore> scores;
  for (size_t i = 0; i < items.size(); ++i) {
    const VqaItem& it = items[i];
    Prediction p{it.question_id, it.dataset, it.modality_type, it.question_type, it.question, it.gt_answer, it.options,
                 answers.text[i], it.image};
    ItemScore s = score_item(p);
    nlohmann::ordered_json line = {{"question_id", p.question_id}, {"dataset", p.dataset}, {"modality_type", p.modality_type},
                                   {"question_type", p.question_type}, {"question", p.question}, {"gt_answer", p.gt_answer},
                                   {"options", p.options}, {"prediction", p.prediction}, {"image", it.image},
                                   {"open_correct", s.open_correct}};
    if (!answers.prefix_losses.empty() && !it.options.empty()) {
      const int choice = prefix_choice(answers.prefix_losses[i]);
      s.prefix_correct = it.options[static_cast<size_t>(choice)] == it.gt_answer;
      line["prefix_losses"] = answers.prefix_losses[i];
      line["prefix_choice"] = choice;
    }
    scores.push_back(std::move(s));
    if (lines) lines->push_back(std::move(line));
    if (kept) kept->push_back(std::move(p));
  }
  return scores;
}

// answer_all on this rank's contiguous share of the items, then every rank's answers in item order
// (the prefix losses travel as JSON text).
Answers answer_sharded(ProcessGroup& pg, Answerer& answerer, const std::vector<Sample>& samples,
                       const std::vector<VqaItem>& items, const Config& config, bool blind, bool with_prefix) {
  auto [begin, end] = shard_range(items.size(), pg.rank(), pg.world_size());
  std::vector<Sample> my_samples(samples.begin() + begin, samples.begin() + end);
  std::vector<VqaItem> my_items(items.begin() + begin, items.begin() + end);
  Answers mine = answer_all(answerer, my_samples, my_items, config, blind, with_prefix);
  Answers all;
  all.text = all_gather_strings(pg, mine.text);
  if (with_prefix) {
    std::vector<std::string> losses;
    for (const auto& l : mine.prefix_losses) losses.push_back(nlohmann::json(l).dump());
    for (const auto& l : all_gather_strings(pg, losses))
      all.prefix_losses.push_back(nlohmann::json::parse(l).get<std::vector<double>>());
  }
  return all;
}

// What eval.loggers get: every score of metrics.json overall ("open_accuracy") and per modality
// ("open_accuracy/<modality>"); counts, intervals and scores no item has (null) are left out.
MetricDict metric_scalars(const nlohmann::ordered_json& metrics) {
  MetricDict out;
  auto add = [&](const nlohmann::ordered_json& group, const std::string& suffix) {
    for (const auto& el : group.items())
      if (el.key() != "n" && el.value().is_number()) out.emplace_back(el.key() + suffix, el.value().get<double>());
  };
  add(metrics, "");
  for (const auto& el : metrics["by_modality"].items()) add(el.value(), "/" + el.key());
  return out;
}

}  // namespace

nlohmann::ordered_json evaluate(const Config& user_config) {
  // Under a launcher (torchrun, srun, --nproc-per-node) the items are shared out across ranks.
  Config config = user_config;
  RankContext rank = start_rank(config.model.device, config.model.threads, std::chrono::seconds(config.dist.timeout_s));
  config.model.device = rank.plan.device;
  ProcessGroup& pg = *rank.pg;
  // Read before the model runs, so that a bad baseline fails in seconds, not after the evaluation.
  const std::string baseline_path = config.eval.baseline.empty() ? "" : predictions_path(config.eval.baseline);
  const std::vector<Prediction> baseline = baseline_path.empty() ? std::vector<Prediction>{} : read_predictions(baseline_path);
  Answerer answerer(config);
  std::vector<VqaItem> items;
  auto samples = build_samples(answerer.tokenizer(), load_items(config.data, config.eval.split), answerer.prompt_options(),
                               config.data, false, items);
  const std::string what = config.data.format == "jsonl" ? config.data.root : "the " + config.eval.split + " split";
  log_info("eval: ", items.size(), " items of ", what);

  nlohmann::ordered_json lines = nlohmann::ordered_json::array();
  std::vector<Prediction> predictions;
  Answers answers = answer_sharded(pg, answerer, samples, items, config, false, config.eval.prefix_score);
  nlohmann::ordered_json metrics = compute_metrics(score_all(items, answers, &lines, &predictions), config.eval.prefix_score);
  if (config.eval.blind) {
    auto blind = score_all(items, answer_sharded(pg, answerer, samples, items, config, true, false), nullptr);
    metrics["blind_open_accuracy"] = compute_metrics(blind)["open_accuracy"];
  }
  fs::path out(config.eval.out_dir);
  // Every rank compares (the answers are the same on all), so every rank ends with the same verdict.
  std::optional<Comparison> comparison;
  if (!baseline.empty()) {
    CompareOptions gate;
    gate.max_drop = config.eval.baseline_max_drop;
    gate.min_n = static_cast<size_t>(config.eval.baseline_min_n);
    gate.alpha = config.eval.baseline_alpha;
    comparison = compare_predictions(baseline, predictions, gate, baseline_path, (out / "predictions.jsonl").string());
  }
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  std::string html;
  if (pg.rank() == 0) {
    write_file_atomic((out / "predictions.jsonl").string(), text);
    write_file_atomic((out / "metrics.json").string(), metrics.dump(2) + "\n");
    MetricLoggerOptions lo;
    lo.tensorboard_dir = (out / "tb").string();
    lo.tag = [](const std::string& name) { return "eval/" + name; };
    auto loggers = make_metric_loggers(config.eval.loggers, lo);
    loggers->log_dict(metric_scalars(metrics), 0);
    loggers->close();
    ReportOptions report;
    report.title = "medvqa evaluation: " + what;
    report.run = {{"data", config.data.root},
                  {"vision tower", config.model.vision},
                  {"LLM", config.model.llm},
                  {"projector", config.model.projector_weights.empty() ? "(fresh)" : config.model.projector_weights},
                  {"adapter", config.model.adapter.empty() ? "(none)" : config.model.adapter}};
    report.examples = static_cast<size_t>(config.eval.report_examples);
    if (comparison) {
      write_file_atomic((out / "comparison.json").string(), to_json(*comparison).dump(2) + "\n");
      write_file_atomic((out / "compare.xml").string(), junit_xml(*comparison));
    }
    html = write_report(out.string(), metrics, lines, report, comparison ? &*comparison : nullptr);
  }
  pg.barrier();
  double acc = metrics["open_accuracy"].get<double>();
  log_info("eval: open-ended accuracy ", acc, " on ", items.size(), " items; ", (out / "metrics.json").string(),
           ", report ", html);
  if (comparison) {
    auto warn = [](const std::vector<std::string>& ids, const char* side) {
      if (!ids.empty()) log_warn("eval: ", ids.size(), " item(s) only in ", side, ", not compared (comparison.json lists them)");
    };
    warn(comparison->baseline_only, "the baseline");
    warn(comparison->candidate_only, "this run");
    // The comparison says where the run got worse, so it speaks first; the floor is only mentioned.
    if (comparison->failed()) {
      if (acc < config.eval.floor) log_warn("eval: open-ended accuracy ", acc, " is also below eval.floor=", config.eval.floor);
      throw GateFailure("eval: against baseline " + baseline_path + ": " + comparison->failure_summary());
    }
    log_info("eval: no significant drop against baseline ", baseline_path);
  }
  MEDVQA_CHECK(acc >= config.eval.floor, "eval: open-ended accuracy ", acc, " is below eval.floor=", config.eval.floor);
  return metrics;
}

}  // namespace medvqa
