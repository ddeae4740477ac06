// medvqa train -c CFG [key=value ...] [--nproc-per-node N]: stage 1 (align) or stage 2 (lora), by
// train.stage; with N > 1 (and no launcher environment yet) it starts N local data-parallel ranks.
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/dist/launcher.h"
#include "medvqa/train/trainer.h"

namespace medvqa::cli {

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train the projector (train.stage=align) or LoRA + projector (train.stage=lora)");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto nproc = std::make_shared<int>(1);
  cmd->add_option("-c,--config", *path, "YAML config file")->required();
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. train.lr=1e-4");
  cmd->add_option("--nproc-per-node", *nproc, "data-parallel ranks to start on this machine (ignored under torchrun/srun)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([=] {
    Config config = load_config(*path, *overrides);  // config errors are reported once, before any rank starts
    launch_if_requested(*nproc, static_cast<double>(config.dist.timeout_s));
    TrainSummary s = train(config);
    if (s.stop_signal) {
      // Stopped by SIGTERM/SIGINT after its checkpoint: the shell's convention for a signal.
      std::cout.flush();
      std::exit(128 + s.stop_signal);
    }
    nlohmann::json out{{"steps", s.steps}, {"loss", s.last_loss}, {"val_loss", s.val_loss}, {"run_dir", s.run_dir}};
    if (s.rank == 0) std::cout << out.dump() << "\n";
  });
}

}  // namespace medvqa::cli
