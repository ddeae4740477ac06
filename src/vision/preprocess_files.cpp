#include "medvqa/vision/preprocess_files.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "medvqa/core/error.h"

namespace medvqa::vision {

std::vector<Pixels> preprocess_files(const std::vector<std::string>& paths, const PreprocessOptions& options,
                                     int threads) {
  if (paths.size() == 1) return {preprocess_file(paths[0], options)};  // its own error, unwrapped
  std::vector<Pixels> out(paths.size());
  std::vector<std::string> errors(paths.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    // Each index is claimed once, so every slot is written by exactly one thread.
    for (size_t i = next++; i < paths.size(); i = next++) {
      try {
        out[i] = preprocess_file(paths[i], options);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t n = std::min(paths.size(), threads > 0 ? size_t(threads) : hw);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  Problems problems;
  for (const auto& e : errors)
    if (!e.empty()) problems.add(e);
  problems.throw_if_any("cannot preprocess " + std::to_string(paths.size()) + " images");
  return out;
}

}  // namespace medvqa::vision
