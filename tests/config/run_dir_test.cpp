// RunDir: the names of a run directory, and which checkpoint folders count as resumable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_util.h"
#include "medvqa/config/run_dir.h"

namespace fs = std::filesystem;
using namespace medvqa;

TEST(RunDir, NamesEveryFileOfARunInOnePlace) {
  const RunDir run("/runs/s1");
  EXPECT_EQ(run.config(), "/runs/s1/config.yaml");
  EXPECT_EQ(run.metrics(), "/runs/s1/metrics.jsonl");
  EXPECT_EQ(run.loss_curve(), "/runs/s1/loss_curve.png");
  EXPECT_EQ(run.final_model().projector(), "/runs/s1/final/projector.safetensors");
  EXPECT_EQ(run.final_model().adapter(), "/runs/s1/final/adapter");
  EXPECT_EQ(run.checkpoint(42).dir, "/runs/s1/checkpoints/step_000000042");
  EXPECT_EQ(run.checkpoint(42).optimizer(), "/runs/s1/checkpoints/step_000000042/optimizer.pt");
}

TEST(RunDir, ListsOnlyCompleteCheckpointsOldestFirst) {
  const fs::path root = test_util::temp_dir("run_dir_list");
  const RunDir run(root);
  EXPECT_TRUE(run.list_checkpoints().empty()) << "no checkpoints/ folder yet";
  for (const char* name : {"step_000000010", "step_000000002", ".step_000000012.tmp.99", "step_000000011.tmp", "notes"})
    fs::create_directories(run.checkpoints() / name);
  std::ofstream(run.checkpoints() / "step_000000013") << "a file, not a folder";
  std::vector<fs::path> found;
  for (const auto& c : run.list_checkpoints()) found.push_back(c.dir.filename());
  EXPECT_EQ(found, (std::vector<fs::path>{"step_000000002", "step_000000010"}));
  fs::remove_all(root);
}

TEST(ModelDir, HasWeightsNeedsTheConfigAndTheProjector) {
  const fs::path root = test_util::temp_dir("model_dir_weights");
  const ModelDir dir{root};
  std::ofstream(dir.config()) << "model: {}\n";
  EXPECT_FALSE(dir.has_weights());
  std::ofstream(dir.projector()) << "x";
  EXPECT_TRUE(dir.has_weights());
  fs::remove_all(root);
}
