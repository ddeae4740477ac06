#include "medvqa/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "medvqa/config/run_dir.h"
#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/state_dict.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Rank 0's key predates data parallelism; the other ranks' are suffixed.
std::string rng_key(const std::string& kind, size_t rank) {
  return "__rng__." + kind + (rank == 0 ? "" : ".rank" + std::to_string(rank));
}

}  // namespace

std::vector<std::pair<std::string, at::Generator>> rank_generators(const c10::Device& device) {
  std::vector<std::pair<std::string, at::Generator>> out{{"cpu", at::detail::getDefaultCPUGenerator()}};
  if (device.is_cuda()) out.emplace_back("cuda", at::globalContext().defaultGenerator(device));
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> gather_rng_states(ProcessGroup& pg, const c10::Device& device) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [kind, generator] : rank_generators(device)) {
    std::vector<at::Tensor> all = pg.all_gather(generator.get_state());
    for (size_t r = 0; r < all.size(); ++r) out.emplace_back(rng_key(kind, r), all[r]);
  }
  return out;
}

std::string save_checkpoint(const std::string& run_dir, const Checkpointable& what, const TrainState& state,
                            int64_t keep_last) {
  const RunDir run(run_dir);
  const CheckpointDir target = run.checkpoint(state.step);
  // Written in a hidden temporary folder that is renamed into place: a checkpoint appears whole
  // or not at all, and one of the same step (a resumed run saves the step it resumed from) is
  // replaced in one step.
  replace_dir_atomic(target.dir.string(), [&](const std::string& tmp_dir) {
    const CheckpointDir tmp{tmp_dir};
    std::vector<std::pair<std::string, at::Tensor>> tensors = what.weights;
    tensors.insert(tensors.end(), state.rng.begin(), state.rng.end());
    write_safetensors(tmp.trainable().string(), tensors, {{"format", "pt"}});
    torch::serialize::OutputArchive archive;
    what.optimizer->save(archive);
    archive.save_to(tmp.optimizer().string());
    json j{{"step", state.step}, {"epoch", state.data.epoch}, {"sample", state.data.sample}};
    write_file_atomic(tmp.state().string(), j.dump(1) + "\n");
  });
  auto all = run.list_checkpoints();
  for (size_t i = 0; i + keep_last < all.size(); ++i) fs::remove_all(all[i].dir);
  return target.dir.string();
}

std::string resolve_checkpoint(const std::string& resume, const std::string& run_dir) {
  if (resume != "auto") return resume;
  auto all = RunDir(run_dir).list_checkpoints();
  return all.empty() ? "" : all.back().dir.string();
}

TrainState load_checkpoint(const std::string& path, const Checkpointable& what, int rank, const c10::Device& device) {
  const CheckpointDir dir{path};
  MEDVQA_CHECK(fs::is_directory(dir.dir) && fs::exists(dir.state()), path, ": not a checkpoint folder (expected ",
               dir.state().filename().string(), ", ", dir.trainable().filename().string(), ", ",
               dir.optimizer().filename().string(), ")");
  TensorStore store = TensorStore::open(dir.trainable().string());
  Problems problems;
  // Strict both ways: every trainable tensor with its shape, and no stored weight left unused
  // (the generator states are this rank's or another's).
  auto matches = match_tensors(
      what.weights, store, [](const std::string& name) { return name; },
      [](const std::string& name) { return name.rfind("__rng__.", 0) == 0; }, problems);
  problems.throw_if_any(path + ": does not match this model's trainable parameters (another config?)");
  {
    torch::NoGradGuard no_grad;
    for (const auto& m : matches) m.target.copy_(store.load(m.stored->name));
  }
  TrainState state;
  for (auto& [kind, generator] : rank_generators(device)) {
    const std::string key = rng_key(kind, static_cast<size_t>(rank));
    if (!store.find(key)) continue;
    generator.set_state(store.load(key).clone());
    state.rng_restored.push_back(kind);
  }
  // AdamW's states come back on this rank's device, not on the device of the rank that saved them.
  torch::serialize::InputArchive archive;
  archive.load_from(dir.optimizer().string(), device);
  what.optimizer->load(archive);
  const JsonValue j = read_json_file(dir.state().string());
  const JsonObject o(j, dir.state().string());
  if (!o.has("sample")) o.fail("sample", "missing: written by an older medvqa (no data position), cannot resume from it");
  state.step = *o.count("step");
  state.data = {*o.count("epoch"), *o.count("sample")};
  return state;
}

}  // namespace medvqa
