// The names inside the directories training writes, in one place: a run directory
// (train.out_dir) holds config.yaml, metrics.jsonl, loss_curve.png, tb/, checkpoints/step_N/ and, once
// training finishes, final/. final/ and an `export --bundle` directory are model directories:
// config.yaml, projector.safetensors, adapter/ after LoRA, and a bundle's own vision/ and llm/.
// Not here: what the files hold (checkpoint.h, model_dir.h, export.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace medvqa {

struct ModelDir {
  std::filesystem::path dir;

  std::filesystem::path config() const { return dir / "config.yaml"; }
  std::filesystem::path projector() const { return dir / "projector.safetensors"; }
  std::filesystem::path adapter() const { return dir / "adapter"; }  // PEFT's folder
  std::filesystem::path vision() const { return dir / "vision"; }    // a bundle's open_clip folder
  std::filesystem::path llm() const { return dir / "llm"; }          // a bundle's HF LLaMA folder
  // config.yaml and projector.safetensors are there.
  bool has_weights() const;
};

struct CheckpointDir {
  std::filesystem::path dir;

  std::filesystem::path trainable() const { return dir / "trainable.safetensors"; }
  std::filesystem::path optimizer() const { return dir / "optimizer.pt"; }
  std::filesystem::path state() const { return dir / "state.json"; }
};

class RunDir {
 public:
  explicit RunDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config() const { return root_ / "config.yaml"; }
  std::filesystem::path metrics() const { return root_ / "metrics.jsonl"; }
  std::filesystem::path loss_curve() const { return root_ / "loss_curve.png"; }
  std::filesystem::path tensorboard() const { return root_ / "tb"; }  // event files (train.loggers)
  ModelDir final_model() const { return {root_ / "final"}; }
  std::filesystem::path checkpoints() const { return root_ / "checkpoints"; }
  // checkpoints/step_<N, zero-padded to 9 digits so that names sort by step>
  CheckpointDir checkpoint(int64_t step) const;
  // The resumable checkpoints, oldest first: step_N folders, never one still being written.
  std::vector<CheckpointDir> list_checkpoints() const;

 private:
  std::filesystem::path root_;
};

}  // namespace medvqa
