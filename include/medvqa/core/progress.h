// A progress display for long loops (evaluation, and any other job that counts items): items
// done / total, rate and ETA on stderr. On a terminal one line is redrawn in place with carriage
// returns; otherwise (logs, CI) a plain log line at most every `line_interval_s`.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace medvqa {

// "eval: 120/400 items (30%) 12.5 items/s, ETA 22s": the line both modes print. `seconds` is the
// time since the start; the rate and ETA are left out until some time has passed.
std::string format_progress(const std::string& label, size_t done, size_t total, double seconds);

class Progress {
 public:
  // `label` names the job and the unit, e.g. "eval: blind baseline"; only rank 0 should make one.
  Progress(std::string label, size_t total, double line_interval_s = 10.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(size_t items = 1);  // redraws (terminal) or logs (otherwise) when due
  void finish();                   // the final line: every item and the total time; once

 private:
  void draw(bool final);
  double elapsed() const;

  std::string label_;
  size_t total_ = 0, done_ = 0;
  double interval_ = 10.0;
  bool terminal_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_;
  double last_draw_ = -1.0;
};

}  // namespace medvqa
