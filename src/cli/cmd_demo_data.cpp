// medvqa demo-data --out DIR [--seed S] [--images-per-modality N]: the synthetic OmniMedVQA-layout
// dataset the demo trains on; medvqa demo-towers --out DIR --tokenizer FILE: its random-init base
// towers in the real formats.
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/core/log.h"
#include "medvqa/data/demo_data.h"
#include "medvqa/models/demo_towers.h"

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

void add_demo_towers(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo-towers", "Write the demo's small random-init vision tower and LLaMA in the real formats");
  auto out = std::make_shared<std::string>();
  auto opts = std::make_shared<DemoTowerOptions>();
  cmd->add_option("--out", *out, "output folder (gets vision/ and llm/)")->required();
  cmd->add_option("--tokenizer", opts->tokenizer, "Meta's LLaMA-3 tokenizer.model")->required();
  cmd->add_option("--seed", opts->seed, "random seed");
  cmd->callback([=] {
    write_demo_towers(*out, *opts);
    log_info("demo-towers: wrote ", *out, "/vision (open_clip) and ", *out, "/llm (HF LLaMA)");
  });
}

}  // namespace medvqa::cli
