#include "medvqa/core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "medvqa/core/clock.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

// Redraws faster than this only flicker; logs are throttled by the caller's interval instead.
constexpr double kTerminalRedrawSeconds = 0.2;
// Before this much time a rate says nothing.
constexpr double kMinRateSeconds = 0.5;

std::string duration(double seconds) {
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

}  // namespace

std::string format_progress(const std::string& label, const std::string& unit, size_t start, size_t done, size_t total,
                            double seconds) {
  char buf[96];
  const double percent = total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
  std::snprintf(buf, sizeof buf, " %zu/%zu %s (%.0f%%)", done, total, unit.c_str(), percent);
  std::string line = label + buf;
  if (seconds >= kMinRateSeconds && done > start) {
    const double rate = static_cast<double>(done - start) / seconds;
    std::snprintf(buf, sizeof buf, " %.3g %s/s", rate, unit.c_str());
    line += buf;
    line += done < total ? ", ETA " + duration(static_cast<double>(total - done) / rate)
                         : ", " + duration(seconds);
  }
  return line;
}

Progress::Progress(std::string label, size_t total, std::string unit, size_t start, double line_interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_count_(start),
      done_(start),
      interval_(line_interval_s),
      terminal_(::isatty(STDERR_FILENO) == 1 && log_enabled(LogLevel::kInfo)),
      start_(std::chrono::steady_clock::now()) {
  draw(false);
}

Progress::~Progress() {
  // An exception unwinding through the loop: end the redrawn line so the error starts on its own.
  if (!finished_ && terminal_) std::fputc('\n', stderr);
}

double Progress::elapsed() const {
  return seconds_since(start_);
}

void Progress::advance(size_t units, std::string note) {
  done_ += units;
  if (!note.empty()) note_ = std::move(note);
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  draw(true);
  finished_ = true;
}

void Progress::draw(bool final) {
  const double now = elapsed();
  const double every = terminal_ ? kTerminalRedrawSeconds : interval_;
  if (!final && last_draw_ >= 0 && now - last_draw_ < every) return;
  last_draw_ = now;
  std::string line = format_progress(label_, unit_, start_count_, done_, total_, now);
  if (!note_.empty()) line += " | " + note_;
  if (terminal_) {
    // \033[K clears what a longer previous line left behind.
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  } else {
    log_info(line);
  }
}

}  // namespace medvqa
