// medvqa grad-check -c CFG [key=value ...] --out FILE.safetensors: the loss and gradients of one
// training step of the config's stage on the first train.batch_size items of the training split,
// with no optimizer step. The parity oracle (tests/parity/test_train_step_parity.py) replays the
// same batch in PyTorch: the file holds the batch, the trainable weights and their gradients.
#include <nlohmann/json.hpp>

#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/core/error.h"
#include "medvqa/data/batch.h"
#include "medvqa/data/dataset.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/train/trainer.h"
#include "medvqa/vision/preprocess_files.h"

namespace medvqa::cli {
namespace {

void run_grad_check(const Config& config, const std::string& out) {
  // The trainer's setup (seed, model, trainable dtypes, autocast), then one micro-batch of the
  // first train.batch_size training items in order, with no update.
  Trainer trainer(config);
  std::vector<VqaItem> kept;
  std::vector<Sample> samples =
      build_samples(trainer.tokenizer(), load_items(config.data, "train"), trainer.prompt(), config.data, true, kept);
  MEDVQA_CHECK(!samples.empty(), "grad-check: the training split of ", config.data.root, " has no usable item");
  samples.resize(std::min<size_t>(samples.size(), static_cast<size_t>(config.train.batch_size)));
  std::vector<std::string> paths;
  for (size_t i = 0; i < samples.size(); ++i) paths.push_back(kept[i].image);
  Batch b = collate(samples, vision::preprocess_files(paths, image_options(config), static_cast<int>(config.data.workers)),
                    config.model.pad_token_id);
  int64_t label_tokens = 0;
  for (const auto& s : samples) label_tokens += s.label_count();
  LossSum l = trainer.accumulate(b, static_cast<double>(std::max<int64_t>(1, label_tokens)), false);
  at::Tensor loss = l.sum.detach() / static_cast<double>(std::max<int64_t>(1, l.tokens));

  std::vector<std::pair<std::string, at::Tensor>> tensors{
      {"batch.input_ids", b.input_ids}, {"batch.labels", b.labels}, {"batch.attention_mask", b.attention_mask},
      {"batch.pixels", b.pixels},       {"loss", loss.cpu()}};
  for (const auto& [name, p] : trainer.trainable()) {
    MEDVQA_CHECK(p.grad().defined(), "grad-check: ", name, " received no gradient");
    tensors.emplace_back("weight." + name, p.detach().cpu());
    tensors.emplace_back("grad." + name, p.grad().cpu());
  }
  write_safetensors(out, tensors, {{"format", "pt"}, {"stage", config::name_of(config.train.stage)}});
  nlohmann::json summary{{"loss", loss.item<double>()}, {"label_tokens", l.tokens}, {"batch", b.input_ids.size(0)},
                         {"seq_len", b.input_ids.size(1)}, {"trainable_tensors", (tensors.size() - 5) / 2}, {"out", out}};
  std::cout << summary.dump() << "\n";
}

}  // namespace

void add_grad_check(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "grad-check", "Loss and gradients of one training step on the first batch (no update), for parity checks");
  auto path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-c,--config", *path, "YAML config file (train.stage picks what trains)")->required();
  cmd->add_option("--out", *out, "safetensors file: batch.*, loss, weight.<name> and grad.<name>")->required();
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. train.batch_size=2");
  cmd->callback([=] { run_grad_check(load_config(*path, *overrides), *out); });
}

}  // namespace medvqa::cli
