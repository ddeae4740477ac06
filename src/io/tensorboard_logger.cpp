#include "medvqa/io/tensorboard_logger.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/tfevents.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrefix = "events.out.tfevents.";

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A name no file of the folder has: TensorBoard's own pattern, plus a counter should a pid repeat
// within a second.
fs::path new_event_file(const fs::path& dir) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  const std::string base = detail::concat(kPrefix, seconds.count(), ".", host, ".", ::getpid());
  fs::path path = dir / base;
  for (int n = 1; fs::exists(path); ++n) path = dir / detail::concat(base, ".", n);
  return path;
}

}  // namespace

// Event files are append-only and TensorBoard reads every file of the folder, so a resumed run that
// only appended would show the steps after its checkpoint twice (the interrupted run's and its own):
// file_version 2 readers purge orphaned steps only on a SessionLog START, and not every reader does.
// Instead the new run copies the records it keeps (step <= the checkpoint's) into its own file,
// written whole and renamed into place, and then deletes the old files, so the folder always holds
// each (tag, step) once. A kill between the rename and the deletions leaves byte-identical copies
// of those records; the next rewrite reads every file and keeps one record of each content, so a
// second resume repairs it.
TensorBoardLogger::TensorBoardLogger(std::string dir, std::function<std::string(const std::string&)> tag,
                                     int64_t keep_through_step)
    : tag_(std::move(tag)) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  MEDVQA_CHECK(!ec, "tensorboard: cannot create folder ", dir, ": ", ec.message());
  std::vector<fs::path> old;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().rfind(kPrefix, 0) == 0) old.push_back(e.path());
  std::sort(old.begin(), old.end());  // oldest first: the names start with the creation time

  std::string content = tfevents::frame_record(tfevents::file_version_event(wall_time()));
  std::set<std::string> seen;
  for (const auto& path : old)
    for (const std::string& record : tfevents::read_records(read_all(path))) {
      tfevents::EventInfo info;
      if (tfevents::parse_event(record, info) && info.has_summary && info.step <= keep_through_step &&
          seen.insert(record).second)
        content += tfevents::frame_record(record);
    }
  path_ = new_event_file(dir).string();
  // Staged under a name TensorBoard does not read (it reads the files whose names hold "tfevents"),
  // then renamed: a kill while it is written shows no partial copy.
  const fs::path staged = fs::path(dir) / ".rewrite";
  write_file_atomic(staged.string(), content);
  fs::rename(staged, path_, ec);
  MEDVQA_CHECK(!ec, "tensorboard: cannot rename ", staged.string(), " to ", path_, ": ", ec.message());
  for (const auto& path : old) {
    fs::remove(path, ec);
    MEDVQA_CHECK(!ec, "tensorboard: cannot remove ", path.string(), " (its steps are now in ", path_, "): ", ec.message());
  }
  file_ = std::fopen(path_.c_str(), "ab");
  MEDVQA_CHECK(file_, "tensorboard: cannot open ", path_, " for appending: ", std::strerror(errno));
}

TensorBoardLogger::~TensorBoardLogger() { close(); }

void TensorBoardLogger::log_dict(const MetricDict& values, int64_t step) {
  MEDVQA_CHECK(file_, "tensorboard: ", path_, ": log after close");
  const double now = wall_time();
  std::string records;
  for (const auto& [name, value] : values) {
    const double v = std::visit([](auto x) { return static_cast<double>(x); }, value);
    records += tfevents::frame_record(tfevents::scalar_event(now, step, tag_ ? tag_(name) : name, static_cast<float>(v)));
  }
  // Flushed to the kernel: a kill -9 from here on loses nothing of this step.
  if (std::fwrite(records.data(), 1, records.size(), file_) != records.size() || std::fflush(file_) != 0)
    MEDVQA_FAIL("tensorboard: cannot write ", path_, ": ", std::strerror(errno));
}

void TensorBoardLogger::close() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
}

}  // namespace medvqa
