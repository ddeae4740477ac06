#include "medvqa/io/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc, _GNU_SOURCE)
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "medvqa/core/error.h"

namespace medvqa {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  fs::path parent = fs::path(path_).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  MEDVQA_CHECK(!ec, path_, ": cannot create folder ", parent.string(), ": ", ec.message());
  temp_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_.c_str(), "wb");
  MEDVQA_CHECK(file_, path_, ": cannot write ", temp_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::remove(temp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t size) {
  MEDVQA_CHECK(file_, path_, ": write after commit");
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) MEDVQA_FAIL(path_, ": write failed: ", std::strerror(errno));
}

void AtomicFile::commit() {
  MEDVQA_CHECK(file_, path_, ": committed twice");
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  int err = errno;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok || std::rename(temp_.c_str(), path_.c_str()) != 0) {
    err = ok ? errno : err;
    std::remove(temp_.c_str());
    MEDVQA_FAIL(path_, ": cannot finish writing: ", std::strerror(err));
  }
  std::string dir = fs::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

namespace {

enum class Existing { refuse, replace };

void fill_and_rename(const std::string& dir, const std::function<void(const std::string&)>& fill, Existing existing) {
  const fs::path target = fs::absolute(dir).lexically_normal();
  std::error_code ec;
  const bool full = fs::exists(target) && !(fs::is_directory(target) && fs::is_empty(target));
  MEDVQA_CHECK(!full || (existing == Existing::replace && fs::is_directory(target)), dir,
               ": already exists and is not an empty folder; choose a new --out or remove it");
  fs::create_directories(target.parent_path(), ec);
  MEDVQA_CHECK(!ec, dir, ": cannot create folder ", target.parent_path().string(), ": ", ec.message());
  const fs::path temp = target.parent_path() / detail::concat(".", target.filename().string(), ".tmp.", ::getpid());
  fs::remove_all(temp);
  fs::create_directory(temp, ec);
  MEDVQA_CHECK(!ec, dir, ": cannot create ", temp.string(), ": ", ec.message());
  try {
    fill(temp.string());
    if (!full) {
      // rename(2) replaces an empty folder in one step.
      fs::rename(temp, target, ec);
      MEDVQA_CHECK(!ec, dir, ": cannot rename ", temp.string(), " to it: ", ec.message());
      return;
    }
    // The new folder and the old one swap names in one step; the old one is then removed. A
    // file system without RENAME_EXCHANGE (NFS) moves the old one aside first: between the two
    // renames `dir` is missing, and the old one survives beside it as .NAME.old.PID.
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
      MEDVQA_CHECK(errno == EINVAL || errno == ENOSYS, dir, ": cannot replace it with ", temp.string(), ": ",
                   std::strerror(errno));
      const fs::path old = target.parent_path() / detail::concat(".", target.filename().string(), ".old.", ::getpid());
      fs::rename(target, old, ec);
      if (!ec) {
        fs::rename(temp, target, ec);
        std::error_code restore;
        if (ec) fs::rename(old, target, restore);
      }
      MEDVQA_CHECK(!ec, dir, ": cannot replace it with ", temp.string(), ": ", ec.message());
      fs::rename(old, temp);
    }
    fs::remove_all(temp);  // the old folder
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
}

}  // namespace

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& fill) {
  fill_and_rename(dir, fill, Existing::refuse);
}

void replace_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& fill) {
  fill_and_rename(dir, fill, Existing::replace);
}

}  // namespace medvqa
