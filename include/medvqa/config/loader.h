// YAML file + dotted key=value overrides -> a validated Config, reporting every problem at
// once; and the way back, Config -> YAML. Relative paths in the file resolve against the file's
// folder, relative paths given as overrides against the current directory.
#pragma once

#include <string>
#include <vector>

#include "medvqa/config/config.h"

namespace medvqa {

// path "" = defaults only. Throws Error listing all problems (file, key, expected, got).
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
std::string to_yaml(const Config& config);
// Markdown table of every key: name, default, allowed values, meaning.
std::string config_reference();

}  // namespace medvqa
