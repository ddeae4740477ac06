// Work split across data-parallel ranks and results brought back: the contiguous share of n items
// that a rank takes, and an all-gather of variable-length strings (evaluation predictions).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "medvqa/dist/process_group.h"

namespace medvqa {

// [begin, end) of rank's near-equal contiguous share of n items; the shares cover 0..n in order.
std::pair<size_t, size_t> shard_range(size_t n, int rank, int world_size);
// Every rank's strings, rank 0's first: the same vector on every rank.
std::vector<std::string> all_gather_strings(ProcessGroup& pg, const std::vector<std::string>& mine);

}  // namespace medvqa
