#include "medvqa/io/state_dict.h"

#include <torch/torch.h>

#include <set>

#include "medvqa/core/error.h"

namespace medvqa {

void load_state_dict(torch::nn::Module& module, const TensorStore& store, const LoadOptions& options) {
  Problems problems;
  std::set<std::string> used;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (destination, source), done when all is well
  auto expect = [&](const std::string& local, const at::Tensor& dest) {
    if (options.select && !options.select(local)) return;
    std::string name = options.prefix + local;
    used.insert(name);
    const TensorInfo* info = store.find(name);
    if (!info) {
      problems.add("missing tensor '" + name + "' (expected shape " + shape_str(dest.sizes().vec()) + ")");
    } else if (info->shape != dest.sizes().vec()) {
      problems.add("tensor '" + name + "' in " + info->file + ": expected shape " + shape_str(dest.sizes().vec()) +
                   ", got " + shape_str(info->shape));
    } else {
      copies.emplace_back(dest, store.load(name));
    }
  };
  for (const auto& p : module.named_parameters(true)) expect(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) expect(b.key(), b.value());
  for (const auto& info : store.tensors()) {
    if (used.count(info.name) || info.name.rfind(options.prefix, 0) != 0) continue;
    bool ignored = false;
    for (const auto& ig : options.ignore) ignored = ignored || info.name.rfind(ig, 0) == 0;
    if (!ignored) problems.add("unexpected tensor '" + info.name + "' in " + info.file + " (not used by the model)");
  }
  problems.throw_if_any("cannot load " + store.path());
  torch::NoGradGuard no_grad;
  for (auto& [dest, src] : copies) dest.copy_(src);
}

}  // namespace medvqa
