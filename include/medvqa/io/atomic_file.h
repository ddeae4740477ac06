// Files and folders that appear whole or not at all: written under a temporary name beside the
// target, fsynced, then renamed over it. A writer destroyed before commit() removes its temporary
// file; a folder whose filling throws is removed.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

namespace medvqa {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // creates the parent folder if needed
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& text) { write(text.data(), text.size()); }
  void commit();  // fsync, rename to the final path, fsync the folder

 private:
  std::string path_, temp_;
  std::FILE* file_ = nullptr;
};

// The whole file at once, atomically.
void write_file_atomic(const std::string& path, const std::string& content);

// A new folder `dir`: `fill` writes into a temporary folder beside it (the path it is given),
// which is then renamed to `dir`. Refuses an existing `dir` unless it is an empty folder.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& temp_dir)>& fill);
// The same, replacing an existing folder `dir` in one step: readers see the old folder or the
// new one, whole (Linux's RENAME_EXCHANGE; see atomic_file.cpp for file systems without it).
void replace_dir_atomic(const std::string& dir, const std::function<void(const std::string& temp_dir)>& fill);

}  // namespace medvqa
