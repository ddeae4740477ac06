// medvqa eval -c CFG [key=value ...]: a trained model on one split; predictions.jsonl + metrics.json.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/eval/evaluator.h"

namespace medvqa::cli {

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a trained model (model.projector_weights + model.adapter) on a split");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-c,--config", *path, "YAML config file")->required();
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. eval.split=val");
  cmd->callback([=] { std::cout << evaluate(load_config(*path, *overrides)).dump(2) << "\n"; });
}

}  // namespace medvqa::cli
