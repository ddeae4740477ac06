#include "medvqa/config/run_dir.h"

#include <algorithm>
#include <cstdio>

namespace medvqa {

namespace fs = std::filesystem;

bool ModelDir::has_weights() const { return fs::is_regular_file(config()) && fs::is_regular_file(projector()); }

CheckpointDir RunDir::checkpoint(int64_t step) const {
  char name[32];
  std::snprintf(name, sizeof name, "step_%09lld", static_cast<long long>(step));
  return {checkpoints() / name};
}

std::vector<CheckpointDir> RunDir::list_checkpoints() const {
  std::vector<fs::path> found;
  if (!fs::is_directory(checkpoints())) return {};
  // A checkpoint is written in a hidden temporary folder and renamed (write_dir_atomic): only
  // complete ones are named step_<digits>.
  for (const auto& e : fs::directory_iterator(checkpoints())) {
    const std::string name = e.path().filename().string();
    const bool digits = name.size() > 5 && name.find_first_not_of("0123456789", 5) == std::string::npos;
    if (e.is_directory() && name.rfind("step_", 0) == 0 && digits) found.push_back(e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<CheckpointDir> out;
  for (auto& p : found) out.push_back({std::move(p)});
  return out;
}

}  // namespace medvqa
