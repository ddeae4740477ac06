#include "medvqa/io/state_dict.h"

#include <torch/torch.h>

#include <set>

#include "medvqa/core/error.h"

namespace medvqa {

std::vector<TensorMatch> match_tensors(const std::vector<std::pair<std::string, at::Tensor>>& targets,
                                       const TensorStore& store,
                                       const std::function<std::string(const std::string&)>& stored_name,
                                       const std::function<bool(const std::string&)>& may_stay_unused,
                                       Problems& problems) {
  std::set<std::string> used;
  std::vector<TensorMatch> matches;
  for (const auto& [local, target] : targets) {
    const std::string name = stored_name(local);
    used.insert(name);
    const TensorInfo* info = store.find(name);
    const auto expected = target.sizes().vec();
    if (!info)
      problems.add("missing tensor '" + name + "' (expected shape " + shape_str(expected) + ")");
    else if (info->shape != expected)
      problems.add("tensor '" + name + "' in " + info->file + ": expected shape " + shape_str(expected) + ", got " +
                   shape_str(info->shape));
    else
      matches.push_back({local, target, info});
  }
  for (const auto& info : store.tensors())
    if (!used.count(info.name) && !may_stay_unused(info.name))
      problems.add("unexpected tensor '" + info.name + "' in " + info.file + " (not used by the model)");
  return matches;
}

void load_state_dict(torch::nn::Module& module, const TensorStore& store, const LoadOptions& options) {
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& p : module.named_parameters(true))
    if (!options.select || options.select(p.key())) targets.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true))
    if (!options.select || options.select(b.key())) targets.emplace_back(b.key(), b.value());
  auto may_stay_unused = [&](const std::string& name) {
    if (name.rfind(options.prefix, 0) != 0) return true;
    for (const auto& ig : options.ignore)
      if (name.rfind(ig, 0) == 0) return true;
    return false;
  };
  Problems problems;
  auto matches = match_tensors(
      targets, store, [&](const std::string& local) { return options.prefix + local; }, may_stay_unused, problems);
  problems.throw_if_any("cannot load " + store.path());
  // Loaded only when every tensor matched, so a failed load leaves the module as it was.
  std::vector<at::Tensor> sources;
  for (const auto& m : matches) sources.push_back(store.load(m.stored->name));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < matches.size(); ++i) matches[i].target.copy_(sources[i]);
}

}  // namespace medvqa
