// medvqa convert IN OUT.safetensors [--prefix P]: any checkpoint (e.g. open_clip's torch.save
// .bin) to one safetensors file, optionally only the tensors under a prefix (the vision tower).
#include "medvqa/cli/commands.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/tensor_store.h"

namespace medvqa::cli {

void add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Write a checkpoint (or the tensors under a prefix) as safetensors");
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>(), prefix = std::make_shared<std::string>();
  cmd->add_option("input", *in, "file or directory")->required();
  cmd->add_option("output", *out, "output .safetensors file")->required();
  cmd->add_option("--prefix", *prefix, "keep only tensors whose names start with this, e.g. visual.");
  cmd->callback([=] {
    TensorStore store = TensorStore::open(*in);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& t : store.tensors())
      if (t.name.rfind(*prefix, 0) == 0) tensors.emplace_back(t.name, store.load(t.name));
    MEDVQA_CHECK(!tensors.empty(), *in, ": no tensor names start with '", *prefix, "'");
    auto metadata = store.metadata();
    metadata.emplace("format", "pt");
    write_safetensors(*out, tensors, metadata);
    log_info("convert: wrote ", tensors.size(), " tensors to ", *out);
  });
}

}  // namespace medvqa::cli
