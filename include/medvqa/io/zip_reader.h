// The zip container of torch.save files, read in place: the central directory (zip64 included)
// and where each stored (uncompressed) record's bytes lie. Compressed records are refused,
// since torch.save never writes them. Torch-free so the fuzzer can drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace medvqa {

struct ZipRecord {
  uint64_t offset = 0;  // of the data, from the start of the file
  uint64_t size = 0;
};

// data/size = the whole file. Throws Error naming `source`.
std::map<std::string, ZipRecord> read_zip_directory(const uint8_t* data, size_t size, const std::string& source);

}  // namespace medvqa
