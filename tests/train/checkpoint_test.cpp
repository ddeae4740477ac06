// Training checkpoints: the generators a rank draws from are saved and restored (a dropout mask
// drawn after the resume is the one the uninterrupted run drew), and the optimizer's states are
// read onto the device the resuming rank names, not the one that saved them.
#include "medvqa/train/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.h"

using namespace medvqa;

namespace {

struct Trained {
  at::Tensor weight;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  Checkpointable what() { return {{{"w", weight}}, optimizer.get()}; }
};

Trained one_step() {
  Trained t;
  t.weight = torch::randn({3, 4}).requires_grad_(true);
  t.optimizer = std::make_unique<torch::optim::AdamW>(std::vector<at::Tensor>{t.weight}, torch::optim::AdamWOptions(1e-2));
  t.weight.sum().backward();
  t.optimizer->step();
  return t;
}

}  // namespace

TEST(Checkpoint, TheRanksGeneratorsAreTheCpusAndItsGpus) {
  auto generators = rank_generators(torch::kCPU);
  ASSERT_EQ(generators.size(), 1u);
  EXPECT_EQ(generators[0].first, "cpu");
}

TEST(Checkpoint, RestoresTheGeneratorSoTheNextDropoutMaskIsTheSame) {
  auto dir = test_util::temp_dir("ckpt_rng");
  torch::manual_seed(7);
  Trained t = one_step();
  ProcessGroup alone(DistEnv{}, torch::kCPU, std::chrono::seconds(10));
  TrainState state;
  state.step = 1;
  state.rng = gather_rng_states(alone, torch::kCPU);
  ASSERT_EQ(state.rng.size(), 1u);
  EXPECT_EQ(state.rng[0].first, "__rng__.cpu");
  std::string path = save_checkpoint(dir.string(), t.what(), state, 2);
  at::Tensor want = torch::dropout(torch::ones({64}), 0.5, true);
  torch::manual_seed(99);  // a fresh process would start elsewhere
  Trained other = one_step();
  TrainState loaded = load_checkpoint(path, other.what(), 0, torch::kCPU);
  EXPECT_EQ(loaded.rng_restored, std::vector<std::string>{"cpu"});
  EXPECT_TRUE(torch::equal(torch::dropout(torch::ones({64}), 0.5, true), want));
  EXPECT_TRUE(torch::equal(other.weight, t.weight));
  std::filesystem::remove_all(dir);
}

// The archive is read onto the device the resuming rank names. The meta device stands in for a GPU
// other than the saver's: every saved tensor lands there, even AdamW's step counter, which the
// optimizer then cannot read back as a number; the old loader, with no device, kept the saver's
// CPU and succeeded. (On CPU-only machines this is the observable difference.)
TEST(Checkpoint, OptimizerStatesAreReadOntoTheResumingRanksDevice) {
  auto dir = test_util::temp_dir("ckpt_device");
  Trained t = one_step();
  std::string path = save_checkpoint(dir.string(), t.what(), TrainState{}, 2);
  Trained other = one_step();
  std::string message;
  try {
    load_checkpoint(path, other.what(), 0, torch::kMeta);
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  }
  EXPECT_NE(message.find("Meta tensors"), std::string::npos) << "loaded without reading onto the meta device: " << message;
  Trained cpu = one_step();
  load_checkpoint(path, cpu.what(), 0, torch::kCPU);
  auto& s = static_cast<torch::optim::AdamWParamState&>(*cpu.optimizer->state().begin()->second);
  auto& want = static_cast<torch::optim::AdamWParamState&>(*t.optimizer->state().begin()->second);
  EXPECT_TRUE(torch::equal(s.exp_avg(), want.exp_avg()));
  EXPECT_TRUE(torch::equal(s.exp_avg_sq(), want.exp_avg_sq()));
  std::filesystem::remove_all(dir);
}

// Strict both ways, as every loader: a checkpoint with a weight this model does not train (another
// config) is refused naming it, not half-loaded. (The old loader checked only the missing ones.)
TEST(Checkpoint, AStoredWeightTheModelDoesNotTrainIsNamed) {
  auto dir = test_util::temp_dir("ckpt_strict");
  Trained t = one_step();
  Checkpointable more = t.what();
  more.weights.emplace_back("projector.extra", torch::zeros({2}));
  std::string path = save_checkpoint(dir.string(), more, TrainState{}, 2);
  EXPECT_TRUE(std::filesystem::exists(path + "/state.json"));
  Trained other = one_step();
  const std::string message = test_util::error_message([&] { load_checkpoint(path, other.what(), 0, torch::kCPU); });
  EXPECT_NE(message.find("projector.extra"), std::string::npos) << message;
  EXPECT_NE(message.find("does not match this model's trainable parameters"), std::string::npos) << message;
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, ABadStateFileIsNamedWithItsKey) {
  auto dir = test_util::temp_dir("ckpt_state");
  Trained t = one_step();
  TrainState state;
  state.step = 3;
  const std::string path = save_checkpoint(dir.string(), t.what(), state, 2);
  const std::string state_json = path + "/state.json";
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{\"step\": 3, \"epoch\": 0}", state_json + ": key \"sample\": missing: written by an older medvqa"},
           {"{\"step\": 3, \"epoch\": -1, \"sample\": 4}", state_json + ": key \"epoch\": expected an integer >= 0, found a number (-1)"},
           {"{\"step\": 3, \"epo", state_json + ": invalid JSON at column 17"}}) {
    std::ofstream(state_json) << text;
    Trained other = one_step();
    const std::string message = test_util::error_message([&] { load_checkpoint(path, other.what(), 0, torch::kCPU); });
    EXPECT_EQ(message.rfind(expected, 0), 0u) << message;
  }
  std::filesystem::remove_all(dir);
}
