#include "medvqa/eval/evaluator.h"

#include <filesystem>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/data/dataset.h"
#include "medvqa/dist/gather.h"
#include "medvqa/eval/metrics.h"
#include "medvqa/eval/scorers.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/models/generation.h"
#include "medvqa/models/registry.h"
#include "medvqa/text/tokenizer.h"
#include "medvqa/text/utf8.h"
#include "medvqa/vision/batch.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

// Greedy answers to every item, `batch` prompts at a time; blind zeroes the image features.
std::vector<std::string> answer_all(VqaModel& model, const Tokenizer& tokenizer, const std::vector<Sample>& samples,
                                    const std::vector<VqaItem>& items, const Config& config,
                                    const std::vector<int64_t>& eos_ids, bool blind) {
  torch::NoGradGuard no_grad;
  model->eval();
  vision::PreprocessOptions pre = vision::read_preprocess_options(config.model.vision);
  pre.resize_mode = vision::parse_resize_mode(config.data.image_mode);
  GenerationOptions go;
  go.max_new_tokens = config.eval.max_new_tokens;
  go.eos_ids = eos_ids;
  go.pad_id = config.model.pad_token_id;
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
    auto pixels_list = vision::preprocess_files(paths, pre, static_cast<int>(config.data.workers));
    std::vector<at::Tensor> pixels;
    for (auto& p : pixels_list) pixels.push_back(torch::from_blob(p.data.data(), {p.channels, p.height, p.width}).clone());
    at::Tensor batch_pixels = torch::stack(pixels);  // [B, 3, H, W]
    go.prefill_embed = [&](const at::Tensor& ids) { return model->embed(ids, batch_pixels.to(ids.device()), blind); };
    GenerationResult r = generate(model->llm, prompts, go);
    for (auto& ids : r.ids) {
      while (!ids.empty() && std::find(eos_ids.begin(), eos_ids.end(), ids.back()) != eos_ids.end()) ids.pop_back();
      answers.push_back(replace_invalid_utf8(tokenizer.decode(std::vector<int32_t>(ids.begin(), ids.end()))));
    }
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

// answer_all on this rank's contiguous share of the items, then every rank's answers in item order.
std::vector<std::string> answer_sharded(ProcessGroup& pg, VqaModel& model, const Tokenizer& tokenizer,
                                        const std::vector<Sample>& samples, const std::vector<VqaItem>& items,
                                        const Config& config, const std::vector<int64_t>& eos_ids, bool blind) {
  auto [begin, end] = shard_range(items.size(), pg.rank(), pg.world_size());
  std::vector<Sample> my_samples(samples.begin() + begin, samples.begin() + end);
  std::vector<VqaItem> my_items(items.begin() + begin, items.begin() + end);
  return all_gather_strings(pg, answer_all(model, tokenizer, my_samples, my_items, config, eos_ids, blind));
}

}  // namespace

nlohmann::ordered_json evaluate(const Config& user_config) {
  // Under a launcher (torchrun, srun, --nproc-per-node) the items are shared out across ranks.
  const DistEnv env = read_dist_env();
  Config config = user_config;
  config.model.device = rank_device(config.model.device, env);
  ProcessGroup pg(env, parse_device(config.model.device), std::chrono::seconds(config.train.dist_timeout_s));
  set_log_rank(pg.rank());
  set_threads(static_cast<int>(config.model.threads));
  auto tokenizer = load_tokenizer(config.model.tokenizer.empty() ? config.model.llm : config.model.tokenizer);
  BuiltModel built = build_model(config.model, "");
  VqaModel model = built.model;
  std::vector<int64_t> eos = built.eos_ids;
  for (int32_t id : tokenizer->stop_ids())
    if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  PromptOptions prompt{config.model.image_token_id, model->image_tokens(), config.data.question_form, config.data.max_seq_len};
  std::vector<VqaItem> items;
  auto samples = build_samples(*tokenizer, load_items(config.data, config.eval.split), prompt, config.data, false, items);
  log_info("eval: ", items.size(), " items of the ", config.eval.split, " split");

  nlohmann::ordered_json lines = nlohmann::ordered_json::array();
  auto answers = answer_sharded(pg, model, *tokenizer, samples, items, config, eos, false);
  nlohmann::ordered_json metrics = compute_metrics(score_all(items, answers, &lines));
  if (config.eval.blind) {
    auto blind = score_all(items, answer_sharded(pg, model, *tokenizer, samples, items, config, eos, true), nullptr);
    metrics["blind_open_accuracy"] = compute_metrics(blind)["open_accuracy"];
  }
  fs::path out(config.eval.out_dir);
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  if (pg.rank() == 0) {
    write_file_atomic((out / "predictions.jsonl").string(), text);
    write_file_atomic((out / "metrics.json").string(), metrics.dump(2) + "\n");
  }
  pg.barrier();
  log_info("eval: open-ended accuracy ", metrics["open_accuracy"].get<double>(), " on ", items.size(), " items; ",
           (out / "metrics.json").string());
  double acc = metrics["open_accuracy"].get<double>();
  MEDVQA_CHECK(acc >= config.eval.floor, "eval: open-ended accuracy ", acc, " is below eval.floor=", config.eval.floor);
  return metrics;
}

}  // namespace medvqa
