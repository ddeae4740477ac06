// medvqa demo-data --out DIR [--seed S] [--images-per-modality N]: the synthetic OmniMedVQA-layout
// dataset the demo trains on.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/core/log.h"
#include "medvqa/data/demo_data.h"

namespace medvqa::cli {

void add_demo_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo-data", "Write the synthetic demo dataset in the OmniMedVQA layout");
  auto out = std::make_shared<std::string>();
  auto opts = std::make_shared<DemoDataOptions>();
  cmd->add_option("--out", *out, "output folder (becomes an OmniMedVQA root)")->required();
  cmd->add_option("--seed", opts->seed, "random seed");
  cmd->add_option("--images-per-modality", opts->images_per_modality, "images of each of the six styles")
      ->check(CLI::Range(1, 100000));
  cmd->callback([=] {
    size_t n = write_demo_data(*out, *opts);
    log_info("demo-data: wrote ", n, " questions about ", 6 * opts->images_per_modality, " images to ", *out);
  });
}

}  // namespace medvqa::cli
