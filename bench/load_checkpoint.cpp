// Loads every tensor of a checkpoint and prints one JSON line: seconds, bytes, peak RSS.
//   view: zero-copy tensors over the mapping, every page touched (what inference loading costs)
//   copy: each tensor copied into freshly allocated memory (what loading into a model costs)
#include <sys/resource.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "medvqa/io/tensor_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PATH view|copy\n", argv[0]);
    return 2;
  }
  std::string mode = argv[2];
  auto t0 = std::chrono::steady_clock::now();
  auto store = medvqa::TensorStore::open(argv[1]);
  double checksum = 0;
  std::vector<at::Tensor> kept;
  for (const auto& info : store.tensors()) {
    at::Tensor t = store.load(info.name);
    if (mode == "copy") t = t.clone();
    // Reading one byte per page is enough to fault the whole tensor in.
    at::Tensor bytes = t.view(at::kByte).reshape(-1);
    checksum += bytes.slice(0, 0, bytes.numel(), 4096).sum().item<double>();
    kept.push_back(t);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("{\"mode\": \"%s\", \"seconds\": %.4f, \"bytes\": %llu, \"peak_rss_mb\": %.1f, \"checksum\": %.0f}\n",
              mode.c_str(), seconds, static_cast<unsigned long long>(store.total_bytes()), ru.ru_maxrss / 1024.0, checksum);
}
