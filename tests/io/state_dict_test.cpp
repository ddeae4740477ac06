#include "medvqa/io/state_dict.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

#include "medvqa/core/error.h"
#include "medvqa/io/safetensors.h"

namespace fs = std::filesystem;
using namespace medvqa;

namespace {

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    proj = register_module("proj", torch::nn::Linear(4, 3));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({3})));
  }
  torch::nn::Linear proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Tiny);

std::string save(const std::string& name, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  fs::path p = fs::temp_directory_path() / ("medvqa_sd_" + std::to_string(::getpid()) + "_" + name + ".safetensors");
  write_safetensors(p.string(), tensors);
  return p.string();
}

}  // namespace

TEST(StateDict, LoadsEveryTensorUnderThePrefix) {
  Tiny m;
  at::Tensor w = at::randn({3, 4}), b = at::randn({3}), nw = at::randn({3}), nb = at::randn({3});
  auto store = TensorStore::open(save("ok", {{"visual.proj.weight", w}, {"visual.proj.bias", b}, {"visual.norm.weight", nw},
                                             {"visual.norm.bias", nb}, {"text.other", at::ones({1})}}));
  LoadOptions options;
  options.prefix = "visual.";
  load_state_dict(*m, store, options);
  EXPECT_TRUE(at::equal(m->proj->weight, w));
  EXPECT_TRUE(at::equal(m->norm->bias, nb));
}

TEST(StateDict, ReportsEveryProblemAtOnceAndLoadsNothing) {
  Tiny m;
  at::Tensor before = m->proj->weight.clone();
  std::string path = save("bad", {{"proj.weight", at::randn({4, 4})}, {"proj.bias", at::randn({3})},
                                  {"norm.weight", at::randn({3})}, {"extra", at::ones({2})}, {"skip.me", at::ones({1})}});
  try {
    LoadOptions options;
    options.ignore = {"skip."};
    load_state_dict(*m, TensorStore::open(path), options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("3 problems"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'proj.weight' in " + path + ": expected shape [3, 4], got [4, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing tensor 'norm.bias' (expected shape [3])"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected tensor 'extra' in " + path), std::string::npos) << msg;
    EXPECT_EQ(msg.find("skip.me"), std::string::npos) << msg;
  }
  EXPECT_TRUE(at::equal(m->proj->weight, before));
}
