// medvqa eval -c CFG [key=value ...] [--nproc-per-node N]: a trained model on one split;
// predictions.jsonl + metrics.json. With N ranks (or under torchrun/srun) the items are shared out.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/dist/env.h"
#include "medvqa/dist/launcher.h"
#include "medvqa/eval/evaluator.h"

namespace medvqa::cli {

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a trained model (model.projector_weights + model.adapter) on a split");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto nproc = std::make_shared<int>(1);
  cmd->add_option("-c,--config", *path, "YAML config file")->required();
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. eval.split=val");
  cmd->add_option("--nproc-per-node", *nproc, "ranks to share the items out to on this machine (ignored under torchrun/srun)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([=] {
    Config config = load_config(*path, *overrides);
    launch_if_requested(*nproc, static_cast<double>(config.dist.timeout_s));
    auto metrics = evaluate(config);
    if (read_dist_env().rank == 0) std::cout << metrics.dump(2) << "\n";
  });
}

}  // namespace medvqa::cli
