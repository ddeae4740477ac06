// A whole file mapped privately into memory (copy-on-write: writes never reach the file).
// Tensors that view the mapping hold a shared_ptr to it, so it lives as long as they do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace medvqa {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);  // throws Error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_;
  size_t size_;
};

}  // namespace medvqa
