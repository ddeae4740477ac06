// medvqa inspect PATH [--json]: the tensors, totals and metadata of a checkpoint file or directory.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/io/tensor_store.h"

namespace medvqa::cli {

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "List the tensors of a safetensors / torch.save file or a model directory");
  auto path = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  cmd->add_option("path", *path, "file or directory")->required();
  cmd->add_flag("--json", *json_out, "print one JSON object");
  cmd->callback([=] {
    TensorStore store = TensorStore::open(*path);
    if (*json_out) {
      nlohmann::json tensors = nlohmann::json::array();
      for (const auto& t : store.tensors())
        tensors.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"bytes", t.bytes}, {"file", t.file}});
      nlohmann::json out{{"tensors", tensors},
                         {"total_bytes", store.total_bytes()},
                         {"total_params", store.total_params()},
                         {"metadata", store.metadata()}};
      std::cout << out.dump() << "\n";
      return;
    }
    for (const auto& t : store.tensors())
      std::printf("%-64s %-5s %-24s %12llu\n", t.name.c_str(), t.dtype.c_str(), shape_str(t.shape).c_str(),
                  static_cast<unsigned long long>(t.bytes));
    std::printf("%zu tensors, %llu parameters, %.3f MB\n", store.tensors().size(),
                static_cast<unsigned long long>(store.total_params()), store.total_bytes() / 1e6);
    for (const auto& [k, v] : store.metadata()) std::printf("metadata %s = %s\n", k.c_str(), v.c_str());
  });
}

}  // namespace medvqa::cli
