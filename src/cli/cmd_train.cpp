// medvqa train -c CFG [key=value ...]: stage 1 (align) or stage 2 (lora), by train.stage.
#include <nlohmann/json.hpp>

#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/train/trainer.h"

namespace medvqa::cli {

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train the projector (train.stage=align) or LoRA + projector (train.stage=lora)");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-c,--config", *path, "YAML config file")->required();
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. train.lr=1e-4");
  cmd->callback([=] {
    TrainSummary s = train(load_config(*path, *overrides));
    nlohmann::json out{{"steps", s.steps}, {"loss", s.last_loss}, {"val_loss", s.val_loss}, {"run_dir", s.run_dir}};
    std::cout << out.dump() << "\n";
  });
}

}  // namespace medvqa::cli
