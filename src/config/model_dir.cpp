#include "medvqa/config/model_dir.h"

#include <filesystem>

#include "medvqa/config/loader.h"
#include "medvqa/config/run_dir.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {

std::string find_model_dir(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  MEDVQA_CHECK(fs::exists(p), "model directory ", path, " does not exist");
  MEDVQA_CHECK(fs::is_directory(p), path, ": not a directory (expected a run directory, its final/, or an exported bundle)");
  const RunDir run(p);
  const ModelDir final_model = run.final_model();
  const ModelDir here{p};
  if (fs::is_directory(final_model.dir)) {
    MEDVQA_CHECK(final_model.has_weights(), final_model.dir.string(), ": incomplete final weights: expected ",
                 final_model.config().filename().string(), " and ", final_model.projector().filename().string());
    return final_model.dir.string();
  }
  if (here.has_weights()) return p.string();
  MEDVQA_CHECK(!fs::is_directory(run.checkpoints()), path, ": no final weights: ", final_model.dir.string(),
               " is written when training finishes and this run only has checkpoints (", run.checkpoints().string(),
               "); finish it with train.resume=auto");
  MEDVQA_FAIL(path, ": no final weights: expected ", final_model.dir.string(), "/ (a run directory) or ",
              here.config().filename().string(), " + ", here.projector().filename().string(),
              " (a run's final/ or a directory from `medvqa export --bundle`)");
}

Config load_model_dir(const std::string& path) {
  const ModelDir dir{find_model_dir(path)};
  Config config = load_config(dir.config().string());
  config.model.projector_weights = dir.projector().string();
  // A run's config.yaml names the adapter it started from (if any); the trained one is adapter/.
  config.model.adapter = std::filesystem::is_directory(dir.adapter()) ? dir.adapter().string() : "";
  MEDVQA_CHECK(!(config.train.stage == Stage::lora && config.model.lora.r > 0 && config.model.adapter.empty()),
               dir.dir.string(), ": trained with LoRA (train.stage=lora, model.lora.r=", config.model.lora.r, ") but ",
               dir.adapter().string(), "/ is missing");
  return config;
}

void apply_model_from(Config& config, Problems& problems) {
  ModelConfig& m = config.model;
  if (m.from.empty()) return;
  const std::pair<const char*, const std::string*> weights[] = {
      {"vision", &m.vision}, {"llm", &m.llm}, {"tokenizer", &m.tokenizer}, {"projector_weights", &m.projector_weights},
      {"adapter", &m.adapter}};
  bool clash = false;
  for (const auto& [key, value] : weights)
    if (!value->empty()) {
      problems.add(detail::concat("model.", key, ": set beside model.from (the model comes from ", m.from,
                                  "); keep one of the two"));
      clash = true;
    }
  if (clash) return;
  Config trained;
  try {
    trained = load_model_dir(m.from);
  } catch (const Error& e) {
    problems.add(std::string("model.from: ") + e.what());
    return;
  }
  if (trained.data.question_form != config.data.question_form || trained.data.image_mode != config.data.image_mode)
    log_warn("config: the model in ", m.from, " was trained with data.question_form=", trained.data.question_form,
             " and data.image_mode=", trained.data.image_mode, "; this config uses ", config.data.question_form, " and ",
             config.data.image_mode);
  ModelConfig kept = m;
  m = trained.model;
  m.from = kept.from;
  m.device = kept.device;
  m.dtype = kept.dtype;
  m.threads = kept.threads;
}

}  // namespace medvqa
