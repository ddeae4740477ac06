#include "medvqa/dist/gather.h"

#include <ATen/ATen.h>

#include <cstring>

namespace medvqa {

std::pair<size_t, size_t> shard_range(size_t n, int rank, int world_size) {
  auto at_rank = [&](size_t r) { return n * r / static_cast<size_t>(world_size); };
  return {at_rank(static_cast<size_t>(rank)), at_rank(static_cast<size_t>(rank) + 1)};
}

std::vector<std::string> all_gather_strings(ProcessGroup& pg, const std::vector<std::string>& mine) {
  if (!pg.distributed()) return mine;
  // Wire format: per string an int64 byte count, then the bytes. Collectives need equal sizes, so
  // the byte counts go first and every rank pads to the longest.
  std::string wire;
  for (const auto& s : mine) {
    int64_t len = static_cast<int64_t>(s.size());
    wire.append(reinterpret_cast<const char*>(&len), sizeof len);
    wire += s;
  }
  auto sizes = pg.all_gather(at::tensor({static_cast<int64_t>(wire.size())}, at::kLong));
  int64_t longest = 0;
  for (const auto& s : sizes) longest = std::max(longest, s.item<int64_t>());
  at::Tensor padded = at::zeros({std::max<int64_t>(1, longest)}, at::kByte);
  std::memcpy(padded.data_ptr<uint8_t>(), wire.data(), wire.size());
  auto all = pg.all_gather(padded);
  std::vector<std::string> out;
  for (size_t r = 0; r < all.size(); ++r) {
    const char* p = reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>());
    const char* end = p + sizes[r].item<int64_t>();
    while (p < end) {
      int64_t len = 0;
      std::memcpy(&len, p, sizeof len);
      p += sizeof len;
      out.emplace_back(p, static_cast<size_t>(len));
      p += len;
    }
  }
  return out;
}

}  // namespace medvqa
