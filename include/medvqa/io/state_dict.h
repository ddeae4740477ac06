// Strict loading of a module's parameters and buffers from a TensorStore, llama.cpp-style: every
// expected tensor present with its shape, every stored tensor used, all problems reported at
// once with the file, the name, the expected and the actual shape.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <string>
#include <vector>

#include "medvqa/core/error.h"
#include "medvqa/io/tensor_store.h"

namespace medvqa {

struct LoadOptions {
  std::string prefix;               // prepended to module names to find them in the store
  std::vector<std::string> ignore;  // store names starting with these are expected to stay unused
  // Module tensors to load, by module name (default: all). E.g. only the LoRA weights of a model.
  std::function<bool(const std::string&)> select;
};

void load_state_dict(torch::nn::Module& module, const TensorStore& store, const LoadOptions& options = {});

// The strict matching every loader shares: each module tensor's stored counterpart (named by
// `stored_name`) must exist with its shape, and each stored tensor must be claimed unless
// `may_stay_unused` says otherwise. Adds one problem per mismatch; returns the matches found.
struct TensorMatch {
  std::string local;   // the module's name
  at::Tensor target;   // the module's tensor
  const TensorInfo* stored;
};
std::vector<TensorMatch> match_tensors(const std::vector<std::pair<std::string, at::Tensor>>& targets,
                                       const TensorStore& store,
                                       const std::function<std::string(const std::string&)>& stored_name,
                                       const std::function<bool(const std::string&)>& may_stay_unused,
                                       Problems& problems);

}  // namespace medvqa
