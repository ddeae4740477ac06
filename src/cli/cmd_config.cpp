// medvqa config -c FILE [key=value ...] [--reference]: print the resolved config as YAML.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/loader.h"

namespace medvqa::cli {

void add_config(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Print the resolved config (file + key=value overrides) as YAML");
  auto path = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto reference = std::make_shared<bool>(false);
  cmd->add_option("-c,--config", *path, "YAML config file (omit for the defaults)");
  cmd->add_option("overrides", *overrides, "dotted overrides, e.g. train.lr=1e-4");
  cmd->add_flag("--reference", *reference, "print every key with its default and meaning (Markdown)");
  cmd->callback([=] {
    if (*reference) {
      std::cout << config_reference();
      return;
    }
    std::cout << to_yaml(load_config(*path, *overrides));
  });
}

}  // namespace medvqa::cli
