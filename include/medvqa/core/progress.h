// A progress display for long loops (evaluation items, training steps): done / total, rate, ETA
// and a note (e.g. the loss) on stderr. On a terminal one line is redrawn in place with carriage
// returns; otherwise (logs, CI) a plain log line at most every `line_interval_s`.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace medvqa {

// "eval: 120/400 items (30%) 12.5 items/s, ETA 22s": the line both modes print. `seconds` is the
// time since `start` units were done (a resumed job starts above 0); the rate and ETA are left out
// until some time has passed.
std::string format_progress(const std::string& label, const std::string& unit, size_t start, size_t done, size_t total,
                            double seconds);

class Progress {
 public:
  // `label` names the job and the unit, e.g. "eval: blind baseline"; only rank 0 should make one.
  // `start` units are done already (a resumed run); `unit` names what is counted.
  Progress(std::string label, size_t total, std::string unit = "items", size_t start = 0, double line_interval_s = 10.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Redraws (terminal) or logs (otherwise) when due; `note` follows the count from now on.
  void advance(size_t units = 1, std::string note = "");
  void finish();                   // the final line: every item and the total time; once

 private:
  void draw(bool final);
  double elapsed() const;

  std::string label_, unit_, note_;
  size_t total_ = 0, start_count_ = 0, done_ = 0;
  double interval_ = 10.0;
  bool terminal_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_;
  double last_draw_ = -1.0;
};

}  // namespace medvqa
