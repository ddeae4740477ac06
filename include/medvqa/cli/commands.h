// The subcommands of the medvqa binary: one add_* per file in src/cli, each registering itself
// on the app with its options and the callback that runs it. main.cpp calls them in help order.
#pragma once

#include <CLI/CLI.hpp>

namespace medvqa::cli {

void add_config(CLI::App& app);
void add_inspect(CLI::App& app);
void add_convert(CLI::App& app);
void add_demo_data(CLI::App& app);
void add_demo_towers(CLI::App& app);
void add_train(CLI::App& app);
void add_grad_check(CLI::App& app);
void add_eval(CLI::App& app);
void add_score(CLI::App& app);
void add_compare(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_preprocess(CLI::App& app);
void add_embed(CLI::App& app);
void add_generate(CLI::App& app);
void add_ask(CLI::App& app);
void add_export(CLI::App& app);
void add_serve(CLI::App& app);

}  // namespace medvqa::cli
