// medvqa config -c FILE [key=value ...] [--reference | --estimate]: print the resolved config as
// YAML, every key's reference, or the parameter and per-GPU memory estimate of the config.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"
#include "medvqa/run/estimate.h"

namespace medvqa::cli {

void add_config(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Print the resolved config (file + key=value overrides) as YAML");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto reference = std::make_shared<bool>(false);
  auto estimate = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto options = std::make_shared<EstimateOptions>();
  cmd->add_option("-c,--config", *path, "YAML config file (omit for the defaults)");
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. train.lr=1e-4");
  cmd->add_flag("--reference", *reference, "print every key with its default and meaning (Markdown)");
  cmd->add_flag("--estimate", *estimate,
                "print total/trainable parameters and per-GPU training memory from the model config files (no weights read)");
  cmd->add_option("--gpus", options->gpus, "--estimate: data-parallel GPUs (default 1)");
  cmd->add_option("--gpu-memory", options->gpu_memory_gib, "--estimate: GiB per GPU (default 40)");
  cmd->add_option("--label-tokens", options->label_tokens, "--estimate: answer tokens per sample (default 32)");
  cmd->add_flag("--json", *json, "--estimate: print JSON instead of the table");
  cmd->callback([=] {
    if (*reference) {
      std::cout << config_reference();
      return;
    }
    Config config = load_config(*path, *overrides);
    if (!*estimate) {
      std::cout << to_yaml(config);
      return;
    }
    MemoryEstimate e = estimate_memory(config, *options);
    if (*json)
      std::cout << estimate_json(e, config).dump(2) << "\n";
    else
      std::cout << estimate_table(e, config);
  });
}

}  // namespace medvqa::cli
