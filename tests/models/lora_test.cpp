#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "medvqa/core/error.h"
#include "medvqa/io/tensor_store.h"
#include "medvqa/models/peft_adapter.h"

using namespace medvqa;
namespace fs = std::filesystem;

namespace {

constexpr double kTolerance = 1e-5;

struct BlockImpl : torch::nn::Module {
  BlockImpl() {
    q_proj = register_module("q_proj", LoraLinear(8, 6));
    v_proj = register_module("v_proj", LoraLinear(8, 6));
    o_proj = register_module("o_proj", LoraLinear(6, 8));
    for (auto& p : parameters()) torch::nn::init::normal_(p);
  }
  LoraLinear q_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Block);

struct NetImpl : torch::nn::Module {
  NetImpl() { layers = register_module("layers", torch::nn::ModuleList(Block(), Block())); }
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(Net);

AdapterConfig config() {
  AdapterConfig c;
  c.lora = {4, 8, 0, std::nullopt};
  c.targets = {"q_proj", "v_proj"};
  return c;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(Lora, FreshAdapterLeavesTheOutputUnchanged) {
  torch::manual_seed(0);
  LoraLinear layer(8, 6);
  torch::nn::init::normal_(layer->weight);
  at::Tensor x = torch::randn({3, 8});
  at::Tensor before = layer(x);
  layer->add_adapter({4, 8, 0, std::nullopt});
  EXPECT_TRUE(torch::equal(layer(x), before));
  EXPECT_EQ(layer->lora_A->weight.sizes(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(layer->lora_B->weight.sizes(), (std::vector<int64_t>{6, 4}));
}

TEST(Lora, MergedForwardEqualsUnmerged) {
  torch::manual_seed(0);
  LoraLinear layer(8, 6);
  torch::nn::init::normal_(layer->weight);
  layer->add_adapter({4, 8, 0, std::nullopt});
  torch::NoGradGuard g;
  torch::nn::init::normal_(layer->lora_B->weight);
  at::Tensor base = layer->weight.clone(), x = torch::randn({3, 8});
  at::Tensor y = layer(x);
  EXPECT_NEAR(max_diff(y, torch::matmul(x, (base + 2.0 * torch::matmul(layer->lora_B->weight, layer->lora_A->weight)).t())), 0,
              kTolerance);
  layer->merge();
  double d = max_diff(layer(x), y);
  EXPECT_LT(d, kTolerance) << "max abs diff " << d;
  layer->unmerge();
  EXPECT_LT(max_diff(layer->weight, base), kTolerance);
  layer->lora_B->weight.fill_(std::numeric_limits<float>::infinity());
  EXPECT_THROW(layer->merge(), Error);
}

TEST(PeftAdapter, SavesPeftKeysAndLoadsBackStrictly) {
  torch::manual_seed(0);
  Net a;
  EXPECT_EQ(add_lora(*a, config()), 4);
  torch::NoGradGuard g;
  for (auto& [name, layer] : lora_layers(*a)) torch::nn::init::normal_(layer->lora_B->weight);
  fs::path dir = fs::temp_directory_path() / ("medvqa_peft_" + std::to_string(::getpid()));
  save_peft_adapter(*a, config(), dir.string());
  auto store = TensorStore::open((dir / "adapter_model.safetensors").string());
  EXPECT_TRUE(store.find("base_model.model.layers.1.v_proj.lora_B.weight"));
  EXPECT_EQ(store.tensors().size(), 8u);

  Net b;
  AdapterConfig read = read_peft_config(dir.string());
  EXPECT_EQ(read.lora.r, 4);
  EXPECT_EQ(read.targets, config().targets);
  add_lora(*b, read);
  load_peft_adapter(*b, dir.string());
  auto la = lora_layers(*a), lb = lora_layers(*b);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_TRUE(torch::equal(la[i].second->lora_B->weight, lb[i].second->lora_B->weight));

  Net c;  // adapters on q/v/o: the file lacks o_proj's
  AdapterConfig more = config();
  more.targets.push_back("o_proj");
  add_lora(*c, more);
  try {
    load_peft_adapter(*c, dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'base_model.model.layers.0.o_proj.lora_A.weight'"), std::string::npos)
        << e.what();
  }
}
