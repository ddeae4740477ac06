// Strict loading of a module's parameters and buffers from a TensorStore, llama.cpp-style: every
// expected tensor present with its shape, every stored tensor used, all problems reported at
// once with the file, the name, the expected and the actual shape.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <string>
#include <vector>

#include "medvqa/io/tensor_store.h"

namespace medvqa {

struct LoadOptions {
  std::string prefix;               // prepended to module names to find them in the store
  std::vector<std::string> ignore;  // store names starting with these are expected to stay unused
  // Module tensors to load, by module name (default: all). E.g. only the LoRA weights of a model.
  std::function<bool(const std::string&)> select;
};

void load_state_dict(torch::nn::Module& module, const TensorStore& store, const LoadOptions& options = {});

}  // namespace medvqa
